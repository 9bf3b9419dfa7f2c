"""targets.common.cache against a real redis-server: hits, invalidation, the stale-fill guard,
pages, outages (every failure is a database read) and the counts ``GET /stats`` reports."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import _local_infra as infra
from harness.backends.base import free_port
from harness.backends.lifecycle import redis_ping
from targets.common.cache import (
    CacheSettings,
    ProductCache,
    connect,
    hit_ratio,
    load_cache_settings,
)
from targets.common.config import ServiceConfigError


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    argv = infra.redis_argv(infra.find_redis_server(), port, tmp_path_factory.mktemp("redis"), 64)
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            deadline = time.monotonic() + 10
            while not redis_ping(port):
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.kill()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """A redis client that fails every call while ``down`` (as a dead or paused Redis does)."""

    def __init__(self, client: Any) -> None:
        self.client, self.down, self.calls = client, False, 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        if self.down:
            raise ConnectionError("redis is down")
        return getattr(self.client, name)


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[ProductCache]:
    settings = CacheSettings(url=redis_url, ttl_s=60)
    client = connect(settings)
    await client.flushdb()
    yield ProductCache(Flaky(client), settings, clock=Clock())
    await client.aclose()


class Database:
    """The products table, counting the reads that reach it."""

    def __init__(self, count: int = 5) -> None:
        self.rows = {i: {"id": i, "name": f"p{i}", "price_cents": 100, "stock": 10} for i in
                     range(1, count + 1)}
        self.reads = 0

    async def get(self, product_id: int) -> dict[str, Any] | None:
        self.reads += 1
        row = self.rows.get(product_id)
        return dict(row) if row else None

    async def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        self.reads += 1
        return [dict(self.rows[i]) for i in sorted(self.rows)[offset:offset + limit]]

    async def many(self, ids: list[int]) -> list[dict[str, Any]]:
        self.reads += 1
        return [dict(self.rows[i]) for i in ids if i in self.rows]


async def test_miss_then_hit_then_invalidated_read_shows_the_new_stock(cache: ProductCache) -> None:
    db = Database()
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 10
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 10
    assert db.reads == 1  # the second read was a hit
    db.rows[1]["stock"] = 7  # an order committed ...
    await cache.invalidate([1])  # ... and invalidated before it answered
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 7
    assert (cache.counts.hits, cache.counts.misses) == (1, 2)


async def test_unknown_products_are_not_cached(cache: ProductCache) -> None:
    db = Database()
    assert await cache.product(lambda: db.get(99), 99) is None
    assert await cache.product(lambda: db.get(99), 99) is None
    assert db.reads == 2


async def test_a_read_that_raced_an_invalidation_does_not_store_its_stale_value(
    cache: ProductCache,
) -> None:
    db = Database()

    async def slow_read() -> dict[str, Any] | None:
        stale = await db.get(1)  # read before the order committed
        db.rows[1]["stock"] = 3  # the order commits and invalidates meanwhile
        await cache.invalidate([1])
        return stale

    assert (await cache.product(slow_read, 1))["stock"] == 10  # this reader saw the past
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 3  # nobody after it does


async def test_pages_cache_ids_and_take_each_product_from_its_own_entry(cache: ProductCache) -> None:
    db = Database(count=3)

    async def page() -> list[dict[str, Any]]:
        return await cache.page(lambda: db.page(3, 0), db.many, 3, 0)

    assert [p["id"] for p in await page()] == [1, 2, 3]  # miss: ids cached, products not yet
    await page()  # ids hit, products from one query (then cached)
    reads = db.reads
    assert [p["stock"] for p in await page()] == [10, 10, 10]
    assert db.reads == reads  # a full hit
    db.rows[2]["stock"] = 4
    await cache.invalidate([2])
    assert [p["stock"] for p in await page()] == [10, 4, 10]

    async def wide() -> list[int]:
        return [p["id"] for p in await cache.page(lambda: db.page(5, 0), db.many, 5, 0)]

    assert await wide() == [1, 2, 3]  # cached ids
    db.rows[4] = {"id": 4, "name": "new", "price_cents": 1, "stock": 1}
    assert await wide() == [1, 2, 3]  # the cache does not know yet ...
    await cache.invalidate_catalog()  # ... until the creation path tells it
    assert await wide() == [1, 2, 3, 4]
    assert await wide() == [1, 2, 3, 4]


async def test_an_outage_reads_the_database_and_backs_off(cache: ProductCache) -> None:
    db, flaky, clock = Database(), cache.client, cache.clock
    assert isinstance(flaky, Flaky) and isinstance(clock, Clock)
    await cache.product(lambda: db.get(1), 1)  # cached
    flaky.down = True
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 10
    calls = flaky.calls
    assert [p["id"] for p in await cache.page(lambda: db.page(2, 0), db.many, 2, 0)] == [1, 2]
    assert flaky.calls == calls  # the breaker is open: Redis is not tried for retry_s
    assert cache.counts.bypassed == 2
    clock.now += cache.settings.retry_s
    flaky.down = False
    await cache.product(lambda: db.get(1), 1)
    assert cache.counts.hits == 1  # back to the cache


async def test_an_invalidation_that_failed_is_owed_and_blocks_cached_reads(cache: ProductCache) -> None:
    db, flaky, clock = Database(), cache.client, cache.clock
    assert isinstance(flaky, Flaky) and isinstance(clock, Clock)
    await cache.product(lambda: db.get(1), 1)  # cached with stock 10
    flaky.down = True
    db.rows[1]["stock"] = 2
    await cache.invalidate([1])  # never raises
    assert cache.pending == {1}
    flaky.down = False  # Redis is back, still holding stock 10
    clock.now += cache.settings.retry_s
    assert (await cache.product(lambda: db.get(1), 1))["stock"] == 2  # the owed one went first
    assert cache.pending == set()


async def test_counts_add_up_across_processes(cache: ProductCache, redis_url: str) -> None:
    db = Database()
    other = ProductCache(connect(cache.settings), cache.settings)
    for reader in (cache, cache, other):
        await reader.product(lambda: db.get(1), 1)
    await other.flush_counts()
    stats = await cache.stats()
    assert (stats["hits"], stats["misses"], stats["bypassed"]) == (2, 1, 0)
    assert stats["hit_ratio"] == pytest.approx(2 / 3)
    await other.client.aclose()


def test_hit_ratio_counts_bypassed_reads_as_not_hits() -> None:
    assert hit_ratio({"hits": 3, "misses": 1, "bypassed": 4}) == pytest.approx(3 / 8)
    assert hit_ratio({}) is None


def test_settings_from_the_environment() -> None:
    assert load_cache_settings({}) is None
    assert load_cache_settings({"CACHE": "none"}) is None
    settings = load_cache_settings({"CACHE": "redis", "REDIS_URL": "redis://127.0.0.1:1/0",
                                    "CACHE_TTL_S": "5", "CACHE_TIMEOUT_MS": "100"})
    assert settings == CacheSettings("redis://127.0.0.1:1/0", ttl_s=5, timeout_s=0.1)
    with pytest.raises(ServiceConfigError, match="CACHE='memcached' is not one of none, redis"):
        load_cache_settings({"CACHE": "memcached"})
    with pytest.raises(ServiceConfigError, match="REDIS_URL"):
        load_cache_settings({"CACHE": "redis"})
    with pytest.raises(ServiceConfigError, match="CACHE_TTL_S='0'"):
        load_cache_settings({"CACHE": "redis", "REDIS_URL": "redis://x:1/0", "CACHE_TTL_S": "0"})


def test_the_module_documents_its_consistency() -> None:
    import targets.common.cache as module

    doc = module.__doc__ or ""
    assert "Consistency" in doc and "Outage" in doc and "CACHE_TTL_S" in doc
    assert Path(module.__file__ or "").name == "cache.py"


async def test_invalidations_in_flight_do_not_send_reads_to_the_database(cache: ProductCache) -> None:
    """Only a failed invalidation blocks cached reads; concurrent orders' invalidations must not
    (they once made a loaded monolith-redis send a third of its reads to the database)."""
    db = Database()
    await cache.product(lambda: db.get(1), 1)

    async def order(product_id: int) -> None:
        await cache.invalidate([product_id])

    async def read() -> None:
        await cache.product(lambda: db.get(1), 1)

    await asyncio.gather(*(coroutine for i in range(20) for coroutine in (order(2 + i % 3), read())))
    assert cache.counts.bypassed == 0
    assert cache.pending == set()
