"""Accounts, identical in every target: the ``users`` table, sign-up and login.

Public API (stable):

- ``USERS_DDL``: idempotent DDL of the ``users`` table (every target's users database).
- ``USERNAME_PATTERN``, ``USERNAME_MIN``/``USERNAME_MAX`` (characters),
  ``normalize_username``, ``is_valid_username`` (from ``targets.common.usernames``),
  ``PASSWORD_MIN``/``PASSWORD_MAX`` (characters), ``INVALID_LOGIN`` (the 401 message).
- ``parse_new_account(body) -> (username, password)``: ``POST /users`` input, the
  username normalised (trimmed, ASCII lowercased: ``CaseyAdv`` and ``caseyadv``
  are one account, the second sign-up is 409), else ``ValidationError`` (400).
- ``parse_login(body) -> (username, password, plausible)``: ``POST /login`` input,
  the username normalised the same way (login works with any case);
  400 only for missing or non-string fields; ``plausible`` is False when the
  username breaks the sign-up rules (no such user can exist: answer 401 without
  a query, after the same password check as for an unknown user).

``POST /users`` answers the stored (normalised) username; tokens carry it too.
- ``account_routes(pool_key, config_key) -> list[web.RouteDef]``: the
  ``POST /users`` and ``POST /login`` routes over the pool in ``app[pool_key]``.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from targets.common.auth import ROLE_USER, hash_password, issue_token, verify_password
from targets.common.config import ServiceConfig
from targets.common.http import ApiError, ValidationError, get_str, json_response, read_json_object
from targets.common.usernames import (  # re-exported: part of this module's API
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
    is_valid_username,
    normalize_username,
)

PASSWORD_MIN, PASSWORD_MAX = 8, 128  # characters
INVALID_LOGIN = "invalid username or password"

USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
"""


def parse_new_account(body: dict[str, Any]) -> tuple[str, str]:
    """``(username, password)`` of a sign-up body; ``ValidationError`` naming the bad field.

    The username is returned normalised; its length and characters are checked after
    trimming (``" alice "`` is ``alice``; ``"al ice"`` stays invalid).
    """
    raw = body.get("username")
    if isinstance(raw, str):
        body = {**body, "username": normalize_username(raw)}
    username = get_str(
        body, "username", min_length=USERNAME_MIN, max_length=USERNAME_MAX, pattern=USERNAME_PATTERN
    )
    password = get_str(body, "password", min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
    return username, password


def parse_login(body: dict[str, Any]) -> tuple[str, str, bool]:
    """``(username, password, plausible)`` of a login body; 400 unless both are strings."""
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationError("username and password are required strings")
    username = normalize_username(username)
    return username, password, is_valid_username(username)


async def create_user(pool: asyncpg.Pool, body: dict[str, Any]) -> dict[str, Any]:
    """Sign up: the new ``{id, username}``; 400 invalid, 409 ``conflict`` if the name is taken."""
    username, password = parse_new_account(body)
    password_hash = await hash_password(password)
    user_id = await pool.fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO NOTHING RETURNING id",
        username,
        password_hash,
        ROLE_USER,
    )
    if user_id is None:
        raise ApiError(409, "conflict", f"username {username!r} is already taken")
    return {"id": user_id, "username": username}


async def login(pool: asyncpg.Pool, body: dict[str, Any], config: ServiceConfig) -> str:
    """A signed token for valid credentials; 401 with one message for any mismatch."""
    username, password, plausible = parse_login(body)
    row = None
    if plausible:
        row = await pool.fetchrow(
            "SELECT id, username, password_hash, role FROM users WHERE username = $1", username
        )
    # An unknown user costs the same argon2 work as a wrong password (no user enumeration).
    if not await verify_password(None if row is None else row["password_hash"], password):
        raise ApiError(401, "unauthorized", INVALID_LOGIN)
    assert row is not None
    return issue_token(
        row["id"], row["username"], row["role"], config.token_secret, config.token_ttl_s
    )


def account_routes(
    pool_key: web.AppKey[asyncpg.Pool], config_key: web.AppKey[ServiceConfig]
) -> list[web.RouteDef]:
    """``POST /users`` and ``POST /login`` over ``app[pool_key]`` and ``app[config_key]``."""

    async def create_user_handler(request: web.Request) -> web.Response:
        user = await create_user(request.app[pool_key], await read_json_object(request))
        return json_response(user, status=201)

    async def login_handler(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        token = await login(request.app[pool_key], body, request.app[config_key])
        return json_response({"token": token})

    return [web.post("/users", create_user_handler), web.post("/login", login_handler)]
