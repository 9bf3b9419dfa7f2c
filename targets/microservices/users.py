"""Users service: sign-up, login (issues the token), admin user ensured at start.

Run with ``python -m targets.microservices.users``; configured by
``DATABASE_URL`` (its own ``users`` database), ``TOKEN_SECRET``,
``ADMIN_USERNAME``/``ADMIN_PASSWORD``, ``INTERNAL_SECRET`` and the common
variables (``targets.common.config``).

Internal endpoint (header ``X-Internal-Secret``): ``GET /internal/stats`` ->
``{"users": n}``.
"""

from __future__ import annotations

import re
from functools import partial

import asyncpg
from aiohttp import web

from targets.common.auth import ROLE_USER, hash_password, issue_token, verify_password
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, ensure_admin, pool_context
from targets.common.http import (
    ApiError,
    ValidationError,
    get_str,
    health_handler,
    json_response,
    new_application,
    read_json_object,
)
from targets.common.serve import serve
from targets.microservices.upstream import require_internal

CONFIG = web.AppKey("config", ServiceConfig)
DB = web.AppKey("db", asyncpg.Pool)

USERNAME = re.compile(r"[A-Za-z0-9_.-]+")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            BIGSERIAL   PRIMARY KEY,
    username      TEXT        NOT NULL UNIQUE,
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

LOGIN_FAILED = "invalid username or password"


async def create_user(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    username = get_str(body, "username", min_length=3, max_length=64, pattern=USERNAME)
    password = get_str(body, "password", min_length=8, max_length=128)
    password_hash = await hash_password(password)
    user_id = await request.app[DB].fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (username) DO NOTHING RETURNING id",
        username,
        password_hash,
        ROLE_USER,
    )
    if user_id is None:
        raise ApiError(409, "conflict", f"username {username!r} is taken")
    return json_response({"id": user_id, "username": username}, status=201)


async def login(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    body = await read_json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationError("username and password are required strings")
    row = None
    if 3 <= len(username) <= 64 and USERNAME.fullmatch(username):  # else no such user
        row = await request.app[DB].fetchrow(
            "SELECT id, password_hash, role FROM users WHERE username = $1", username
        )
    if not await verify_password(None if row is None else row["password_hash"], password):
        raise ApiError(401, "unauthorized", LOGIN_FAILED)
    assert row is not None
    token = issue_token(row["id"], username, row["role"], config.token_secret, config.token_ttl_s)
    return json_response({"token": token})


async def internal_stats(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    count = await request.app[DB].fetchval("SELECT count(*) FROM users")
    return json_response({"users": int(count)})


async def database(app: web.Application) -> None:
    await check_pool(app[DB])


def create_app(config: ServiceConfig) -> web.Application:
    """The users service application."""
    app = new_application(config.max_body_bytes)
    app[CONFIG] = config
    admin = partial(ensure_admin, username=config.admin_username, password=config.admin_password)
    app.cleanup_ctx.append(
        pool_context(DB, config.database_url, config.db_pool_size, schema=SCHEMA, on_ready=admin)
    )
    app.add_routes(
        [
            web.get("/health", health_handler(database)),
            web.post("/users", create_user),
            web.post("/login", login),
            web.get("/internal/stats", internal_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
