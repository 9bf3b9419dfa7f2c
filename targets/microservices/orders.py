"""Orders service: places orders as a two-step saga with the catalog service.

``POST /orders``: validate, generate the order id (UUID), ask catalog to
reserve every item (``POST /internal/reservations``, one atomic call,
idempotent per order id, that also returns the unit prices), then store the
order as confirmed and answer 201. Failures:

- catalog refuses (404 unknown product, 409 insufficient stock): passed on,
  nothing was reserved;
- catalog cannot be reached at all: 503, nothing was sent;
- the reservation's outcome is unknown (timeout, dropped connection) or the
  database refused the order (the insert transaction rolled back): the
  reservation is released at once (``DELETE /internal/reservations/{id}``,
  idempotent, retried), 503;
- the insert's outcome is unknown (connection lost, ``STORE_TIMEOUT_S``
  passed): 503, and the reservation is left to the reconciler
  (``targets.microservices.reconcile``), which confirms it if the order turns
  out stored and releases it otherwise. The reconciler also cleans up after an
  orders process that died mid-order.

Run with ``python -m targets.microservices.orders``; configured by
``DATABASE_URL`` (its own ``orders`` database), ``CATALOG_URL``,
``TOKEN_SECRET``, ``INTERNAL_SECRET``, the common variables
(``targets.common.config``) and the HTTP pool variables
(``targets.microservices.upstream``).

Internal endpoint: ``GET /internal/stats`` -> ``{"orders": {status: n}, "units_sold": n}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
from aiohttp import web

from targets.common.auth import bearer_claims
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, pool_context
from targets.common.http import (
    ApiError,
    error_response,
    health_handler,
    json_response,
    new_application,
    read_json_object,
)
from targets.common.orders import order_not_found, parse_order_items, path_order_id
from targets.common.serve import serve
from targets.microservices import orders_store as store
from targets.microservices import reconcile
from targets.microservices.catalog_client import CatalogClient, CatalogRefused
from targets.microservices.upstream import (
    HTTP_CLIENT,
    UpstreamSettings,
    http_client_ctx,
    load_upstream_settings,
    require_internal,
)

log = logging.getLogger("targets.microservices.orders")

CONFIG = web.AppKey("config", ServiceConfig)
DB = web.AppKey("db", asyncpg.Pool)
CATALOG = web.AppKey("catalog", CatalogClient)
CONFIRMATIONS = web.AppKey("confirmations", reconcile.Confirmations)
UPSTREAM = web.AppKey("upstream", UpstreamSettings)


async def _compensate(catalog: CatalogClient, order_id: uuid.UUID, reason: BaseException) -> None:
    """Release ``order_id``'s reservation; on failure the reconciler's sweep will."""
    log.warning("order %s failed after reserving (%r); releasing the reservation", order_id, reason)
    try:
        # Shielded: a cancelled request must still give the stock back.
        await asyncio.shield(catalog.release(order_id))
    except Exception as exc:  # noqa: BLE001 - any failure: the sweep retries it
        log.error("order %s: release failed (%r); left to the reconciler", order_id, exc)


def _rolled_back(exc: BaseException) -> bool:
    """Whether the database refused the statement (so the transaction surely rolled back)."""
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(
        exc, asyncpg.PostgresConnectionError
    )


async def place_order(request: web.Request) -> web.Response:
    app = request.app
    claims = bearer_claims(request, app[CONFIG].token_secret)
    items = parse_order_items(await read_json_object(request))
    catalog = app[CATALOG]
    order_id = uuid.uuid4()
    try:
        reservation = await catalog.reserve(order_id, items)
    except CatalogRefused as refused:  # nothing was reserved
        raise ApiError(refused.status, refused.code, refused.message) from None
    except aiohttp.ClientConnectorError:  # never connected: the request was not sent
        return error_response(503, "unavailable", "catalog service unavailable")
    except BaseException as exc:  # outcome unknown: the reservation may exist
        await _compensate(catalog, order_id, exc)
        if isinstance(exc, Exception):
            return error_response(503, "unavailable", "stock reservation failed")
        raise
    try:
        async with asyncio.timeout(reconcile.STORE_TIMEOUT_S):
            order = await store.insert_confirmed(
                app[DB], order_id, claims.user_id, reservation["items"]
            )
    except BaseException as exc:
        if _rolled_back(exc):
            await _compensate(catalog, order_id, exc)
        else:  # the order may or may not be stored: the reconciler decides
            log.warning("order %s: storing it had an unknown outcome (%r)", order_id, exc)
        if isinstance(exc, Exception):
            return error_response(503, "unavailable", "order could not be stored")
        raise
    app[CONFIRMATIONS].add(order_id)
    return json_response(order, status=201)


async def get_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    order_id = path_order_id(request, "id")
    order = await store.get_order(request.app[DB], order_id, claims.user_id)
    if order is None:
        raise order_not_found()
    return json_response(order)


async def internal_stats(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    return json_response(await store.stats(request.app[DB]))


async def database(app: web.Application) -> None:
    await check_pool(app[DB])


async def reconciler_ctx(app: web.Application) -> AsyncIterator[None]:
    """The catalog client and the background reconciler (after the session and the pool)."""
    config = app[CONFIG]
    app[CATALOG] = CatalogClient(app[HTTP_CLIENT], config.catalog_url, config.internal_secret)
    app[CONFIRMATIONS] = reconcile.Confirmations()
    task = asyncio.create_task(
        reconcile.run_reconciler(
            app[CATALOG],
            app[DB],
            app[CONFIRMATIONS],
            reconcile.stale_after(app[UPSTREAM].timeout_s),
        ),
        name="reconciler",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(Exception):  # best effort: the sweep confirms what is left
        await reconcile.flush(app[CATALOG], app[CONFIRMATIONS])


def create_app(config: ServiceConfig, upstream: UpstreamSettings | None = None) -> web.Application:
    """The orders service application (``upstream``: HTTP pool settings, default from env)."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config
    app[UPSTREAM] = upstream or load_upstream_settings()
    app.cleanup_ctx.append(http_client_ctx(app[UPSTREAM]))
    app.cleanup_ctx.append(
        pool_context(DB, config.database_url, config.db_pool_size, schema=store.SCHEMA)
    )
    app.cleanup_ctx.append(reconciler_ctx)
    app.add_routes(
        [
            web.get("/health", health_handler(database)),
            web.post("/orders", place_order),
            web.get("/orders/{id}", get_order),
            web.get("/internal/stats", internal_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "CATALOG_URL", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
