"""Cache-aside for product reads in Redis: the ``*-redis`` variants (``CACHE=redis``).

``GET /products/{id}`` and ``GET /products`` are answered from Redis when it holds the
answer, else from PostgreSQL, and the answer is then stored in Redis. Stock changes with
every order, so the cache is kept exact, not eventually right:

**Consistency.** Every code path that changes stock (an order, a reservation, a release)
calls ``ProductCache.invalidate(product_ids)`` *after its transaction committed and before
it answers*. Invalidation bumps a per-product version counter and deletes the cached
product in one Redis transaction (``MULTI``: ``INCR v:ID``, ``DEL p:ID``). A reader that
missed reads the version *before* it queries the database and stores what it read only if
the version is still the same (one Lua script: compare, then ``SET``), so a slow reader can
never put back a value older than an invalidation. Hence: once an order is confirmed (201,
or its status ``confirmed`` on the event-driven path), every later product read, cached or
not, shows the new stock (read-your-writes for every client). Pages (``GET /products``)
cache only the ids of the page, tagged with the catalog's version (bumped when a product
is created), and take each product from its own cache entry, so a page is exactly as fresh
as the products in it.

**Outage.** Redis is an optimisation, never a dependency: every Redis error or timeout
(``CACHE_TIMEOUT_MS``, default 250 ms) makes the read go to the database and opens a
breaker for ``CACHE_RETRY_S`` (1 s) during which Redis is not tried. An invalidation that
cannot reach Redis is kept and retried (every 0.5 s and before this process reads the cache
again); until then this process reads only the database. Another process could read the
stale entry in the moment between Redis coming back and the retry, so every entry also
expires after ``CACHE_TTL_S`` (60 s): the hard bound of staleness after an outage. A Redis
restart empties it (no persistence): that is only misses.

**Counts.** ``hits`` (reads answered without the database), ``misses`` and ``bypassed``
(reads that went to the database because Redis failed or the breaker was open) are counted
per process and added to the Redis hash ``cache:stats`` every second; ``GET /stats``
reports their sum under ``cache`` (see ``ProductCache.stats``).

Environment: ``CACHE`` ("" or "none": no cache; "redis"), ``REDIS_URL`` (required with
``CACHE=redis``), ``CACHE_TTL_S`` [60], ``CACHE_TIMEOUT_MS`` [250], ``CACHE_RETRY_S`` [1].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from targets.common.config import ServiceConfigError

log = logging.getLogger("targets.common.cache")

CACHE_KINDS = ("none", "redis")
STATS_KEY = "cache:stats"
CATALOG_VERSION = "v:catalog"
BACKGROUND_INTERVAL_S = 0.5  # seconds between retries of pending invalidations / count flushes
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

# KEYS[1]: the value's key, KEYS[2]: its version key; ARGV: expected version ("" = none),
# value, TTL in seconds. Stores the value only if no invalidation happened since the read.
_FILL_SCRIPT = """
local version = redis.call('GET', KEYS[2])
if (version or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class CacheSettings:
    """How a service caches product reads (``load_cache_settings``)."""

    url: str  # redis://127.0.0.1:PORT/0
    ttl_s: int = 60  # seconds an entry lives at most (the staleness bound after an outage)
    timeout_s: float = 0.25  # seconds a Redis call may take before the read goes to the database
    retry_s: float = 1.0  # seconds Redis is left alone after a failure


def _number(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ServiceConfigError(f"{name}={raw!r} is not an integer in 1..{maximum}")
    return int(raw)


def load_cache_settings(environ: Mapping[str, str] | None = None) -> CacheSettings | None:
    """The cache settings from ``environ`` (default ``os.environ``); None without ``CACHE``.

    ``ServiceConfigError`` naming the variable for an unknown ``CACHE`` or a missing URL.
    """
    env = os.environ if environ is None else environ
    kind = env.get("CACHE", "").strip().lower() or "none"
    if kind not in CACHE_KINDS:
        raise ServiceConfigError(f"CACHE={kind!r} is not one of {', '.join(CACHE_KINDS)}")
    if kind == "none":
        return None
    url = env.get("REDIS_URL", "").strip()
    if not url.startswith("redis://"):
        raise ServiceConfigError(f"CACHE=redis needs REDIS_URL=redis://HOST:PORT/DB, got {url!r}")
    return CacheSettings(
        url=url, ttl_s=_number(env, "CACHE_TTL_S", 60, 86_400),
        timeout_s=_number(env, "CACHE_TIMEOUT_MS", 250, 60_000) / 1000,
        retry_s=float(_number(env, "CACHE_RETRY_S", 1, 3600)),
    )


def product_key(product_id: int) -> str:
    return f"p:{product_id}"


def version_key(product_id: int) -> str:
    return f"v:{product_id}"


def page_key(limit: int, offset: int) -> str:
    return f"pg:{limit}:{offset}"


def _text(raw: Any) -> str:
    """A Redis reply as text ("" for none)."""
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def encode_page(version: str, ids: Iterable[int]) -> bytes:
    """A cached page: the catalog version it was read under, then its product ids."""
    return orjson.dumps({"v": version, "ids": list(ids)})


def decode_page(raw: bytes | None, version: str) -> list[int] | None:
    """The ids of a cached page, None when absent or read under another catalog version."""
    if raw is None:
        return None
    page = orjson.loads(raw)
    return [int(i) for i in page["ids"]] if page.get("v") == version else None


@dataclass
class Counts:
    """Reads of one process not yet added to ``cache:stats``."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "bypassed": self.bypassed}


@dataclass
class ProductCache:
    """Product reads through Redis for one process; every Redis failure falls back to ``load``.

    ``client`` is a ``redis.asyncio.Redis``; ``clock`` returns seconds (monotonic).
    """

    client: Any
    settings: CacheSettings
    clock: Callable[[], float] = time.monotonic
    counts: Counts = field(default_factory=Counts)
    pending: set[int] = field(default_factory=set)  # products whose invalidation is owed
    catalog_pending: bool = False  # a product creation whose catalog bump is owed
    closed_until: float = 0.0  # clock() before which Redis is not tried (the breaker)

    # -- availability ----------------------------------------------------------------------

    def _failed(self, error: BaseException) -> None:
        if self.clock() >= self.closed_until:
            log.warning("redis unavailable (%s: %s); reading the database for %.1fs",
                        type(error).__name__, error, self.settings.retry_s)
        self.closed_until = self.clock() + self.settings.retry_s

    async def _usable(self) -> bool:
        """Whether to read Redis now: the breaker is closed and no failed invalidation is owed
        (one in flight does not count: its order has not been answered yet)."""
        if self.clock() < self.closed_until:
            return False
        if self.pending or self.catalog_pending:
            return await self.flush_invalidations()
        return True

    # -- reads -----------------------------------------------------------------------------

    async def product(
        self, load: Callable[[], Any], product_id: int
    ) -> dict[str, Any] | None:
        """Product ``product_id`` from Redis, else ``await load()`` (cached when found)."""
        if not await self._usable():
            self.counts.bypassed += 1
            return await load()
        try:
            cached, version = await self.client.mget(product_key(product_id), version_key(product_id))
        except _FAILURES as error:
            self._failed(error)
            self.counts.bypassed += 1
            return await load()
        if cached is not None:
            self.counts.hits += 1
            return dict(orjson.loads(cached))
        self.counts.misses += 1
        product = await load()
        if product is not None:
            await self._fill([(product_key(product_id), version_key(product_id), _text(version),
                               orjson.dumps(product))])
        return product

    async def page(
        self, load: Callable[[], Any], load_many: Callable[[list[int]], Any], limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        """One page of products: the ids and each product from Redis where it holds them.

        ``await load()``: the page from the database; ``await load_many(ids)``: those products.
        """
        if not await self._usable():
            self.counts.bypassed += 1
            return list(await load())
        try:
            raw, version = await self.client.mget(page_key(limit, offset), CATALOG_VERSION)
            ids = decode_page(raw, _text(version))
            if ids is not None:
                return await self._page_products(load_many, ids)
        except _FAILURES as error:
            self._failed(error)
            self.counts.bypassed += 1
            return list(await load())
        self.counts.misses += 1
        products = list(await load())
        page = encode_page(_text(version), (p["id"] for p in products))
        await self._fill([(page_key(limit, offset), CATALOG_VERSION, _text(version), page)])
        return products

    async def _page_products(
        self, load_many: Callable[[list[int]], Any], ids: list[int]
    ) -> list[dict[str, Any]]:
        """The products of a cached page; the ones Redis lacks from one database query."""
        if not ids:
            self.counts.hits += 1
            return []
        replies = await self.client.mget(*(product_key(i) for i in ids), *(version_key(i) for i in ids))
        values, versions = replies[: len(ids)], replies[len(ids):]
        missing = [i for i, value in zip(ids, values, strict=True) if value is None]
        if not missing:
            self.counts.hits += 1
            return [dict(orjson.loads(value)) for value in values]
        self.counts.misses += 1
        found = {p["id"]: p for p in await load_many(missing)}
        owed = dict(zip(ids, versions, strict=True))
        await self._fill([(product_key(i), version_key(i), _text(owed[i]), orjson.dumps(found[i]))
                          for i in missing if i in found])
        return [orjson.loads(value) if value is not None else found[i]
                for i, value in zip(ids, values, strict=True) if value is not None or i in found]

    async def _fill(self, entries: list[tuple[str, str, str, bytes]]) -> None:
        """Store ``(key, version key, version read, value)`` entries whose version is unchanged."""
        if not entries:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, version_name, version, value in entries:
                    pipe.eval(_FILL_SCRIPT, 2, key, version_name, version, value, self.settings.ttl_s)
                await pipe.execute()
        except _FAILURES as error:
            self._failed(error)

    # -- invalidation ----------------------------------------------------------------------

    async def invalidate(self, product_ids: Iterable[int]) -> None:
        """After a committed stock change of ``product_ids``: no cached read shows the old stock.

        Never raises: when Redis cannot be reached the ids are owed (``flush_invalidations``).
        """
        ids = sorted(set(product_ids))
        if not await self._apply(ids, catalog=False):
            self.pending.update(ids)

    async def invalidate_catalog(self) -> None:
        """After a product was created: cached pages (their ids) are read again."""
        if not await self._apply([], catalog=True):
            self.catalog_pending = True

    async def flush_invalidations(self) -> bool:
        """Apply the owed invalidations (ones that failed); whether none is owed any more."""
        if not self.pending and not self.catalog_pending:
            return True
        ids, catalog = sorted(self.pending), self.catalog_pending
        if not await self._apply(ids, catalog):
            return False
        self.pending.difference_update(ids)
        self.catalog_pending = self.catalog_pending and not catalog
        return not self.pending and not self.catalog_pending

    async def _apply(self, ids: list[int], catalog: bool) -> bool:
        """Bump the versions of ``ids`` (and the catalog's) and drop their entries, in one
        transaction; False when Redis failed or the breaker is open (the caller owes it)."""
        if self.clock() < self.closed_until:
            return False
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                for product_id in ids:
                    pipe.incr(version_key(product_id))
                    pipe.delete(product_key(product_id))
                if catalog:
                    pipe.incr(CATALOG_VERSION)
                await pipe.execute()
        except _FAILURES as error:
            self._failed(error)
            return False
        return True

    # -- counts ----------------------------------------------------------------------------

    async def flush_counts(self) -> None:
        """Add this process's counts to ``cache:stats`` (kept for later when Redis fails)."""
        counts, self.counts = self.counts, Counts()
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                for name, value in counts.as_dict().items():
                    pipe.hincrby(STATS_KEY, name, value)
                await pipe.execute()
        except _FAILURES as error:
            self._failed(error)
            for name, value in counts.as_dict().items():
                setattr(self.counts, name, getattr(self.counts, name) + value)

    async def stats(self) -> dict[str, Any]:
        """``{"kind": "redis", "hits", "misses", "bypassed", "hit_ratio"}`` over every process
        (whose counts reached Redis), plus this process's unflushed ones if Redis is down."""
        await self.flush_counts()
        totals = dict(self.counts.as_dict())
        try:
            stored = await self.client.hgetall(STATS_KEY)
            for name, value in stored.items():
                totals[_text(name)] = totals.get(_text(name), 0) + int(value)
        except _FAILURES as error:
            self._failed(error)
        return {"kind": "redis", **totals, "hit_ratio": hit_ratio(totals)}


def hit_ratio(counts: Mapping[str, int]) -> float | None:
    """hits / (hits + misses + bypassed), None before any read."""
    reads = counts.get("hits", 0) + counts.get("misses", 0) + counts.get("bypassed", 0)
    return counts.get("hits", 0) / reads if reads else None


def connect(settings: CacheSettings) -> Any:
    """A ``redis.asyncio`` client that fails fast: no retries, ``timeout_s`` per call."""
    return aioredis.from_url(
        settings.url, socket_timeout=settings.timeout_s,
        socket_connect_timeout=settings.timeout_s, retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False, health_check_interval=0, max_connections=64,
    )


def cache_context(
    key: web.AppKey[ProductCache | None], settings: CacheSettings | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` generator: ``app[key]`` is the cache (None without one), with a
    background task that retries owed invalidations and flushes the counts."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if settings is None:
            app[key] = None
            yield
            return
        cache = ProductCache(connect(settings), settings)
        app[key] = cache
        task = asyncio.create_task(_background(cache))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(*_FAILURES):
                await cache.flush_counts()
            await cache.client.aclose()

    return context


async def _background(cache: ProductCache) -> None:
    ticks = 0
    while True:
        await asyncio.sleep(BACKGROUND_INTERVAL_S)
        ticks += 1
        if cache.clock() < cache.closed_until:
            continue
        await cache.flush_invalidations()
        if ticks % 2 == 0:
            await cache.flush_counts()
