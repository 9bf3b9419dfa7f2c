"""Seed a target through its public API, identically for every target.

Products (deterministic names, prices and stock from a fixed seed) and shopper accounts
are created with bounded concurrency. Usernames carry a per-run suffix so seeding an
already-used service (``bench run --url``) does not collide with earlier runs.
The conservation baseline is read from ``GET /stats`` after seeding, so integrity
checks hold even when the service held data before.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from harness.config import SeedConfig
from harness.errors import BenchError

SEED = 20261125  # fixed: every target gets the same catalog
CONCURRENCY = 8  # requests in flight while seeding (user creation hashes a memory-hard KDF)


@dataclass(frozen=True)
class SeedResult:
    """What seeding created, and the target's state right after."""

    credentials: list[tuple[str, str]]  # (username, password) of every shopper
    product_ids: list[int]
    stock_seeded: int  # units created by this seeding
    conserved_total: int  # stock_total + units_sold from GET /stats after seeding
    stats: dict[str, Any]  # GET /stats after seeding
    seconds: float  # wall time of seeding


async def _json(response: aiohttp.ClientResponse, expect: tuple[int, ...], what: str) -> Any:
    body = await response.read()
    if response.status not in expect:
        raise BenchError(f"seeding: {what} answered {response.status}: {body[:300]!r}")
    return orjson.loads(body)


async def admin_token(session: aiohttp.ClientSession, url: str, username: str, password: str) -> str:
    """Log in as admin and return the bearer token."""
    async with session.post(f"{url}/login", json={"username": username, "password": password}) as response:
        if response.status == 401:
            raise BenchError(
                f"seeding: admin login at {url} was refused (401); pass the service's admin "
                "credentials with --admin-user/--admin-password (BENCH_ADMIN_USER/BENCH_ADMIN_PASSWORD)"
            )
        data = await _json(response, (200,), "POST /login (admin)")
    return str(data["token"])


async def get_stats(session: aiohttp.ClientSession, url: str, token: str) -> dict[str, Any]:
    """The target's GET /stats answer (admin)."""
    async with session.get(f"{url}/stats", headers={"Authorization": f"Bearer {token}"}) as response:
        data = await _json(response, (200,), "GET /stats")
    if not isinstance(data, dict):
        raise BenchError(f"seeding: GET /stats answered {data!r}, not an object")
    return data


def conserved(stats: dict[str, Any]) -> int:
    """stock_total + units_sold: constant under any mix of orders."""
    return int(stats.get("stock_total", 0)) + int(stats.get("units_sold", 0))


async def _seed(url: str, config: SeedConfig, admin_user: str, admin_password: str,
                run_tag: str, timeout_s: float) -> SeedResult:
    started = time.monotonic()
    rng = random.Random(SEED)
    products = [
        {"name": f"product-{i:05d}", "price_cents": rng.randint(config.price_cents_min, config.price_cents_max),
         "stock": config.stock}
        for i in range(config.products)
    ]
    credentials = [(f"shopper-{run_tag}-{i:04d}", secrets.token_urlsafe(12)) for i in range(config.users)]
    limit = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        token = await admin_token(session, url, admin_user, admin_password)
        headers = {"Authorization": f"Bearer {token}"}

        async def create_product(body: dict[str, Any]) -> int:
            async with limit, session.post(f"{url}/products", json=body, headers=headers) as response:
                return int((await _json(response, (201,), "POST /products"))["id"])

        async def create_user(username: str, password: str) -> None:
            async with limit, session.post(
                f"{url}/users", json={"username": username, "password": password}
            ) as response:
                await _json(response, (201,), f"POST /users ({username})")

        product_ids = await asyncio.gather(*(create_product(p) for p in products))
        await asyncio.gather(*(create_user(u, p) for u, p in credentials))
        stats = await get_stats(session, url, token)
    return SeedResult(
        credentials=credentials,
        product_ids=sorted(product_ids),
        stock_seeded=config.stock * config.products,
        conserved_total=conserved(stats),
        stats=stats,
        seconds=time.monotonic() - started,
    )


def seed_target(url: str, config: SeedConfig, admin_user: str, admin_password: str,
                *, run_tag: str | None = None, timeout_s: float = 30.0) -> SeedResult:
    """Seed ``url`` (products with stock, shopper accounts); return credentials and baseline.

    ``timeout_s`` bounds each request. Raises ``BenchError`` naming the failing call.
    """
    tag = run_tag or secrets.token_hex(3)
    try:
        return asyncio.run(_seed(url, config, admin_user, admin_password, tag, timeout_s))
    except aiohttp.ClientError as error:
        raise BenchError(f"seeding {url} failed: {error}") from None
    except TimeoutError:
        raise BenchError(f"seeding {url} timed out (a request took over {timeout_s:.0f}s)") from None


def wait_healthy(url: str, timeout_s: float) -> None:
    """Poll GET /health until 200, or raise BenchError after ``timeout_s`` seconds."""

    async def poll() -> str:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"{url}/health") as response:
                        if response.status == 200:
                            return ""
                        last = f"{response.status} {(await response.read())[:200]!r}"
                except (aiohttp.ClientError, TimeoutError) as error:
                    last = str(error) or type(error).__name__
                await asyncio.sleep(0.25)
        return last

    last = asyncio.run(poll())
    if last:
        raise BenchError(f"{url}/health did not answer 200 within {timeout_s:.0f}s (last: {last})")
