"""Passwords (argon2id) and tokens (HS256 JWT), identical in all three targets.

Public API (stable):

- ``PASSWORD_HASHER``: the one argon2id ``PasswordHasher`` (OWASP: t=2, m=19 MiB, p=1).
- ``async hash_password(password) -> str``: hash in the default thread executor.
- ``async verify_password(stored_hash, password) -> bool``: verify in the executor;
  ``stored_hash=None`` (unknown user) verifies against a dummy hash and returns
  False, so unknown users and wrong passwords take the same time.
- ``Claims``: frozen dataclass ``user_id: int, username: str, role: str, exp: int``
  (``is_admin`` property).
- ``issue_token(user_id, username, role, secret, ttl_s) -> str``: HS256 JWT with
  claims sub (user id as str), name, role, iat, exp (seconds).
- ``decode_token(token, secret) -> Claims | None``: None when the token is
  malformed (anything but three base64url segments of ASCII, at most
  ``MAX_TOKEN_CHARS``; bytes that are not UTF-8 arrive from aiohttp as lone
  surrogates and are malformed too), tampered, expired, unsigned
  (``alg: none``) or lacks a claim. It never raises on client input.
- ``bearer_claims(request, secret) -> Claims``: claims of the request's
  ``Authorization: Bearer`` token, else ``ApiError`` 401 ``unauthorized``
  (whatever bytes the header holds).
- ``require_admin(claims) -> Claims``: the same claims, else ``ApiError`` 403 ``forbidden``.
- ``ROLE_USER``, ``ROLE_ADMIN``.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import jwt
from aiohttp import web
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from targets.common.http import ApiError

ROLE_USER = "user"
ROLE_ADMIN = "admin"
_ROLES = frozenset({ROLE_USER, ROLE_ADMIN})
_ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096  # far above any token issue_token makes (~250 characters)
# header.payload.signature, each base64url without padding (the signature may be empty:
# PyJWT then rejects it as unsigned). Checked before PyJWT sees the token, so non-ASCII
# text (e.g. latin-1 header bytes, which aiohttp decodes to lone surrogates) never
# reaches a codec.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# What a malformed token can make PyJWT or the claim checks raise besides PyJWTError:
# codec errors (UnicodeError is a ValueError), int() of NaN/inf claims, deep JSON nesting.
_MAX_USER_ID = 2**63 - 1  # ids are PostgreSQL bigints
_MALFORMED = (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError)

# OWASP Password Storage Cheat Sheet, argon2id option 2: m=19 MiB, t=2, p=1.
PASSWORD_HASHER = PasswordHasher(
    time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
# A valid hash of a random string nobody knows, with the same parameters: verifying
# against it for unknown users makes login time independent of whether the user exists.
_DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$15QOn4NOF9af1SwTBi8DmQ$nJzb84ARY+rhbB/18BqkPrq8RhiYcZ1mH4K9E7v+xAg"


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed off the event loop)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, PASSWORD_HASHER.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: unknown user, always False)."""
    loop = asyncio.get_running_loop()
    if stored_hash is None:
        await loop.run_in_executor(None, _verify, _DUMMY_HASH, password)
        return False
    return await loop.run_in_executor(None, _verify, stored_hash, password)


@dataclass(frozen=True)
class Claims:
    """What a valid token says about its bearer."""

    user_id: int
    username: str
    role: str
    exp: int  # expiry, Unix seconds

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


def issue_token(user_id: int, username: str, role: str, secret: str, ttl_s: int) -> str:
    """A signed HS256 token valid for ``ttl_s`` seconds."""
    now = int(time.time())
    payload = {"sub": str(user_id), "name": username, "role": role, "iat": now, "exp": now + ttl_s}
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def decode_token(token: str, secret: str) -> Claims | None:
    """The claims of ``token`` if it is signed with ``secret`` and unexpired, else None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
        )
        return _claims(payload)
    except _MALFORMED:
        return None


def _claims(payload: dict[str, object]) -> Claims | None:
    sub, name, role = payload.get("sub"), payload.get("name"), payload.get("role")
    if not isinstance(sub, str) or not (sub.isascii() and sub.isdigit()) or len(sub) > 19:
        return None
    if int(sub) > _MAX_USER_ID:
        return None
    if not isinstance(name, str) or role not in _ROLES:
        return None
    exp = payload["exp"]
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    return Claims(user_id=int(sub), username=name, role=str(role), exp=int(exp))


def bearer_claims(request: web.Request, secret: str) -> Claims:
    """Claims of the request's bearer token; ``ApiError`` 401 if missing or invalid."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing bearer token")
    claims = decode_token(token.strip(), secret)
    if claims is None:
        raise ApiError(401, "unauthorized", "invalid or expired token")
    return claims


def require_admin(claims: Claims) -> Claims:
    """``claims`` if they belong to an admin; ``ApiError`` 403 otherwise."""
    if not claims.is_admin:
        raise ApiError(403, "forbidden", "admin role required")
    return claims
