"""Catalog service: products (public reads, admin writes) and stock reservations (internal).

The product routes are ``targets.common.catalog``'s, as in the other targets. With
``CACHE=redis`` (the ``microservices-redis`` variant) they read through
``targets.common.cache``, and every reservation and release invalidates its products
after its transaction committed and before it answers: the catalog makes every stock
change, so an order that ``orders`` confirmed (its reservation answered) is visible.

Run with ``python -m targets.microservices.catalog``; configured by
``DATABASE_URL`` (its own ``catalog`` database), ``TOKEN_SECRET``,
``INTERNAL_SECRET`` and the common variables (``targets.common.config``).

Internal endpoints (header ``X-Internal-Secret`` required: 401 absent, 403 wrong):

- ``POST /internal/reservations {order_id, items:[{product_id, quantity}]}`` ->
  200 ``{order_id, status:"reserved", items:[{product_id, quantity, price_cents}],
  total_cents}``; all items or none; idempotent per ``order_id``; 404
  ``not_found``, 409 ``insufficient_stock``, 409 ``conflict`` (order id released
  or reused with other items).
- ``DELETE /internal/reservations/{order_id}`` -> 200 ``{order_id, released}``
  (``released`` false when there was nothing to give back); idempotent; 409
  ``conflict`` if the reservation is confirmed.
- ``POST /internal/reservations/confirm {order_ids:[uuid...]}`` (at most 1000)
  -> 200 ``{"confirmed": n}``: the orders of these reservations are stored.
- ``GET /internal/reservations/stale?older_than_s=S&limit=N`` -> 200
  ``{"order_ids": [...]}``: reserved more than S seconds ago, still open.
- ``GET /internal/stats`` -> ``{"products": n, "stock_total": n}``.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from targets.common.cache import ProductCache, cache_context, load_cache_settings
from targets.common.catalog import product_routes
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, pool_context
from targets.common.http import (
    ApiError,
    ValidationError,
    get_list,
    health_handler,
    json_response,
    new_application,
    query_int,
    read_json_object,
)
from targets.common.orders import parse_order_items
from targets.common.serve import serve
from targets.microservices import catalog_store as store
from targets.microservices.upstream import require_internal

CONFIG = web.AppKey("config", ServiceConfig)
DB = web.AppKey("db", asyncpg.Pool)
CACHE = web.AppKey("cache", ProductCache | None)

MAX_CONFIRM_BATCH = 1000  # order ids per confirm call / stale listing


def _order_id(raw: object) -> uuid.UUID:
    if not isinstance(raw, str):
        raise ValidationError("order_id must be a UUID string")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationError("order_id must be a UUID string") from None


async def reserve(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    body = await read_json_object(request)
    order_id = _order_id(body.get("order_id"))
    items = parse_order_items(body)
    try:
        reservation, created = await store.reserve(request.app[DB], order_id, items)
    except store.UnknownProduct as exc:
        raise ApiError(404, "not_found", f"product {exc.product_id} not found") from None
    except store.InsufficientStock as exc:
        raise ApiError(
            409, "insufficient_stock", f"not enough stock for product {exc.product_id}"
        ) from None
    except store.ReservationConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    cache = request.app[CACHE]
    if created and cache is not None:  # committed: cached reads must show the new stock
        await cache.invalidate(item.product_id for item in reservation.items)
    return json_response(reservation.as_json())


async def release(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise ValidationError("order_id must be a UUID") from None
    try:
        returned = await store.release(request.app[DB], order_id)
    except store.ReservationConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    cache = request.app[CACHE]
    if returned and cache is not None:
        await cache.invalidate(returned)
    return json_response({"order_id": str(order_id), "released": bool(returned)})


async def confirm(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    body = await read_json_object(request)
    raw_ids = get_list(body, "order_ids", min_items=1, max_items=MAX_CONFIRM_BATCH)
    order_ids = [_order_id(raw) for raw in raw_ids]
    return json_response({"confirmed": await store.confirm(request.app[DB], order_ids)})


async def stale(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    older_than_s = query_int(request.query, "older_than_s", default=60, minimum=0, maximum=86_400)
    limit = query_int(request.query, "limit", default=200, minimum=1, maximum=MAX_CONFIRM_BATCH)
    order_ids = await store.stale(request.app[DB], older_than_s, limit)
    return json_response({"order_ids": [str(order_id) for order_id in order_ids]})


async def internal_stats(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    body: dict[str, object] = dict(await store.stats(request.app[DB]))
    cache = request.app[CACHE]
    if cache is not None:
        body["cache"] = await cache.stats()
    return json_response(body)


async def database(app: web.Application) -> None:
    await check_pool(app[DB])


def create_app(config: ServiceConfig) -> web.Application:
    """The catalog service application."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config
    app.cleanup_ctx.append(
        pool_context(DB, config.database_url, config.db_pool_size, schema=store.SCHEMA)
    )
    app.cleanup_ctx.append(cache_context(CACHE, load_cache_settings()))
    app.add_routes(
        [
            web.get("/health", health_handler(database)),
            *product_routes(DB, CONFIG, CACHE),
            web.post("/internal/reservations", reserve),
            web.delete("/internal/reservations/{order_id}", release),
            web.post("/internal/reservations/confirm", confirm),
            web.get("/internal/reservations/stale", stale),
            web.get("/internal/stats", internal_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
