"""Usernames, one rule for every target: what may sign up, and which names are the same name.

Public API (stable):

- ``USERNAME_PATTERN`` (ASCII letters, digits, ``_ . -``), ``USERNAME_MIN`` /
  ``USERNAME_MAX`` (characters, counted after trimming).
- ``normalize_username(raw) -> str``: the one spelling a name is stored, looked
  up and put in tokens under: surrounding whitespace removed, ASCII letters
  lowercased (``" CaseyAdv "`` -> ``"caseyadv"``). Only ASCII is folded, after
  trimming and before validation, so no non-ASCII lookalike (the Kelvin sign
  ``K`` casefolds to ``k``) can become a valid name.
- ``is_valid_username(name) -> bool``: whether ``name`` (normalised or not)
  follows the sign-up rules.

Sign-up (``POST /users``), login (``POST /login``) and the admin user
(``ADMIN_USERNAME``) all go through ``normalize_username``: names differing
only in case or surrounding whitespace are one account, and logging in works
with any such spelling. This module imports nothing from the others, so the
configuration can check ``ADMIN_USERNAME`` with the same rules.
"""

from __future__ import annotations

import re

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
USERNAME_MIN, USERNAME_MAX = 3, 64  # characters

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_username(raw: str) -> str:
    """``raw`` trimmed, with ASCII letters lowercased (other characters are kept)."""
    return raw.strip().translate(_ASCII_UPPER)


def is_valid_username(name: str) -> bool:
    """Whether ``name`` is ``USERNAME_MIN..USERNAME_MAX`` characters of ``USERNAME_PATTERN``."""
    return USERNAME_MIN <= len(name) <= USERNAME_MAX and bool(USERNAME_PATTERN.fullmatch(name))
