"""PostgreSQL helpers: pools in ``cleanup_ctx``, schema under an advisory lock, the admin user.

Public API (stable):

- ``async connect_pool(database_url, size, *, connect_timeout_s=30.0) -> asyncpg.Pool``:
  a pool of ``size`` connections (json/jsonb decoded with orjson), retrying while
  the server is still starting, up to ``connect_timeout_s`` seconds.
- ``pool_context(key, database_url, size, *, schema=None, on_ready=None)``: a
  ``cleanup_ctx`` generator function: opens the pool into ``app[key]``, applies
  ``schema`` (SQL text) with ``apply_schema``, awaits ``on_ready(pool)``, and
  closes the pool on shutdown.
- ``async apply_schema(pool, sql)``: run idempotent DDL (CREATE ... IF NOT EXISTS)
  holding a transaction-level ``pg_advisory_xact_lock``, so worker processes
  starting together do not race on the catalog.
- ``async ensure_admin(pool, username, password)``: create or update the admin
  user; needs a table ``users(username text UNIQUE, password_hash text, role text)``
  (other columns must have defaults). Race-safe (``INSERT ... ON CONFLICT``). The
  username is normalised like every username (``targets.common.usernames``), so the
  admin logs in as any user does.
- ``async check_pool(pool)``: ``SELECT 1`` (for health checks); raises when down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import orjson
from aiohttp import web

from targets.common.auth import ROLE_ADMIN, hash_password, verify_password
from targets.common.usernames import normalize_username

log = logging.getLogger("targets.db")

# Any fixed 64-bit key: advisory locks are per database, so services sharing a
# database serialise their DDL and services with their own database don't interact.
SCHEMA_LOCK_KEY = 0x6172636862656E63  # "archbenc"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def connect_pool(
    database_url: str, size: int, *, connect_timeout_s: float = 30.0
) -> asyncpg.Pool:
    """Open a pool of ``size`` connections, retrying until ``connect_timeout_s`` seconds pass."""
    deadline = time.monotonic() + connect_timeout_s
    while True:
        try:
            pool = await asyncpg.create_pool(
                database_url, min_size=min(2, size), max_size=size, init=_init_connection
            )
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if time.monotonic() > deadline:
                raise
            log.info("database not ready yet (%s); retrying", exc)
            await asyncio.sleep(0.5)
            continue
        assert pool is not None
        return pool


async def apply_schema(pool: asyncpg.Pool, sql: str) -> None:
    """Run idempotent DDL ``sql`` while holding the schema advisory lock."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
        await conn.execute(sql)


async def ensure_admin(pool: asyncpg.Pool, username: str, password: str) -> None:
    """Create the admin user, or give the existing one this password and the admin role."""
    username = normalize_username(username)
    row = await pool.fetchrow("SELECT password_hash, role FROM users WHERE username = $1", username)
    if (
        row is not None
        and row["role"] == ROLE_ADMIN
        and await verify_password(row["password_hash"], password)
    ):
        return
    password_hash = await hash_password(password)
    await pool.execute(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO UPDATE "
        "SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role",
        username,
        password_hash,
        ROLE_ADMIN,
    )


async def check_pool(pool: asyncpg.Pool) -> None:
    """Raise unless the database answers ``SELECT 1``."""
    await pool.fetchval("SELECT 1")


def pool_context(
    key: web.AppKey[asyncpg.Pool],
    database_url: str,
    size: int,
    *,
    schema: str | None = None,
    on_ready: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` function owning one asyncpg pool stored in ``app[key]``."""

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await connect_pool(database_url, size)
        try:
            if schema is not None:
                await apply_schema(pool, schema)
            if on_ready is not None:
                await on_ready(pool)
            app[key] = pool
            yield
        finally:
            await pool.close()

    return pool_ctx
