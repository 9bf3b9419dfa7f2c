"""targets.common.db against a real PostgreSQL: start-up is race-safe across worker processes.

Several workers start at once and each applies the schema and ensures the admin
user. Without the advisory lock, concurrent ``CREATE TABLE IF NOT EXISTS``
statements collide on the catalog (unique violation on ``pg_type``); without
``ON CONFLICT`` concurrent admin inserts collide on ``users.username``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from helpers.deploy import deploy

from targets.common.auth import verify_password
from targets.common.db import apply_schema, connect_pool, ensure_admin

pytestmark = [pytest.mark.needs_postgres, pytest.mark.timeout(120)]
RACERS = 8  # concurrent "workers"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Module scope: every test works in tables and users of its own (random names)."""
    workdir: Path = tmp_path_factory.mktemp("common-db")
    with deploy("monolith", workdir, run_id="test-common-db") as deployed:
        yield deployed.database_url()


async def _pools(url: str) -> list[asyncpg.Pool]:
    return list(await asyncio.gather(*(connect_pool(url, 2) for _ in range(RACERS))))


async def test_concurrent_schema_application_does_not_race(database_url: str) -> None:
    table = f"race_{secrets.token_hex(4)}"
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, doc jsonb NOT NULL);"
        f"CREATE INDEX IF NOT EXISTS {table}_doc ON {table} USING gin (doc);"
    )
    pools = await _pools(database_url)
    try:
        await asyncio.gather(*(apply_schema(pool, ddl) for pool in pools))
        await pools[0].execute(f"INSERT INTO {table} (doc) VALUES ($1)", {"a": [1, "x"]})
        assert await pools[1].fetchval(f"SELECT doc FROM {table}") == {"a": [1, "x"]}  # orjson
    finally:
        await asyncio.gather(*(pool.close() for pool in pools))


async def test_concurrent_admin_creation_leaves_one_admin_that_can_log_in(
    database_url: str,
) -> None:
    username = f"admin_{secrets.token_hex(4)}"
    pools = await _pools(database_url)
    try:
        await asyncio.gather(*(ensure_admin(pool, username, "first-password") for pool in pools))
        rows = await pools[0].fetch(
            "SELECT password_hash, role FROM users WHERE username = $1", username
        )
        assert len(rows) == 1 and rows[0]["role"] == "admin"
        assert await verify_password(rows[0]["password_hash"], "first-password")
        # a restart with a new ADMIN_PASSWORD updates it; a demoted admin is promoted again
        await pools[0].execute("UPDATE users SET role = 'user' WHERE username = $1", username)
        await ensure_admin(pools[0], username, "second-password")
        row = await pools[0].fetchrow(
            "SELECT password_hash, role FROM users WHERE username = $1", username
        )
        assert row is not None and row["role"] == "admin"
        assert await verify_password(row["password_hash"], "second-password")
        assert not await verify_password(row["password_hash"], "first-password")
    finally:
        await asyncio.gather(*(pool.close() for pool in pools))
