"""The monolith: every endpoint of the contract in one aiohttp app over one PostgreSQL database.

``create_app(config) -> web.Application``. ``POST /orders`` reserves stock for
every item and records the order in ONE transaction: conditional updates
(``stock >= quantity``) taken in product-id order so concurrent orders cannot
deadlock; a shortfall rolls everything back and answers 409 ``insufficient_stock``.

With ``CACHE=redis`` (the ``monolith-redis`` variant) product reads go through
``targets.common.cache``; an order invalidates its products after its transaction
committed and before it answers, so a read after a 201 shows the new stock.
"""

from __future__ import annotations

import uuid
from importlib import resources

import asyncpg
from aiohttp import web

from targets.common.accounts import USERS_DDL, account_routes
from targets.common.auth import bearer_claims, require_admin
from targets.common.cache import ProductCache, cache_context, load_cache_settings
from targets.common.catalog import PRODUCTS_DDL, product_routes
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, ensure_admin, pool_context
from targets.common.http import (
    ApiError,
    health_handler,
    json_response,
    new_application,
    read_json_object,
)
from targets.common.orders import fetch_stats, order_not_found, parse_order_items, path_order_id

CONFIG = web.AppKey("config", ServiceConfig)
POOL = web.AppKey("pool", asyncpg.Pool)
CACHE = web.AppKey("cache", ProductCache | None)


async def health_database(app: web.Application) -> None:
    """Raise unless the database answers."""
    await check_pool(app[POOL])


async def create_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    data = await read_json_object(request)
    items = sorted(parse_order_items(data))  # by product id: the lock order
    order_id = uuid.uuid4()
    lines: list[dict[str, int]] = []
    async with request.app[POOL].acquire() as conn, conn.transaction():
        for product_id, quantity in items:
            price = await conn.fetchval(
                "UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 "
                "RETURNING price_cents",
                product_id,
                quantity,
            )
            if price is None:
                exists = await conn.fetchval("SELECT 1 FROM products WHERE id = $1", product_id)
                if exists is None:
                    raise ApiError(404, "not_found", f"product {product_id} not found")
                raise ApiError(
                    409, "insufficient_stock", f"not enough stock for product {product_id}"
                )
            lines.append({"product_id": product_id, "quantity": quantity, "price_cents": price})
        total_cents = sum(line["price_cents"] * line["quantity"] for line in lines)
        try:
            await conn.execute(
                "INSERT INTO orders (id, user_id, status, total_cents) "
                "VALUES ($1, $2, 'confirmed', $3)",
                order_id,
                claims.user_id,
                total_cents,
            )
        except asyncpg.ForeignKeyViolationError:  # a validly signed token of an unknown user
            raise ApiError(401, "unauthorized", "the token's user does not exist") from None
        await conn.execute(
            "INSERT INTO order_items (order_id, product_id, quantity, price_cents) "
            "SELECT $1, * FROM unnest($2::bigint[], $3::integer[], $4::bigint[])",
            order_id,
            [line["product_id"] for line in lines],
            [line["quantity"] for line in lines],
            [line["price_cents"] for line in lines],
        )
    cache = request.app[CACHE]
    if cache is not None:  # committed: no cached read may show the old stock from now on
        await cache.invalidate(product_id for product_id, _quantity in items)
    body = {"id": str(order_id), "status": "confirmed", "total_cents": total_cents, "items": lines}
    return json_response(body, status=201)


async def get_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    order_id = path_order_id(request)
    pool = request.app[POOL]
    order = await pool.fetchrow(
        "SELECT id, status, total_cents FROM orders WHERE id = $1 AND user_id = $2",
        order_id,
        claims.user_id,
    )
    if order is None:
        raise order_not_found()
    rows = await pool.fetch(
        "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = $1 "
        "ORDER BY product_id",
        order_id,
    )
    return json_response(
        {
            "id": str(order["id"]),
            "status": order["status"],
            "items": [dict(row) for row in rows],
            "total_cents": order["total_cents"],
        }
    )


async def stats(request: web.Request) -> web.Response:
    require_admin(bearer_claims(request, request.app[CONFIG].token_secret))
    body = await fetch_stats(request.app[POOL])
    cache = request.app[CACHE]
    if cache is not None:
        body["cache"] = await cache.stats()
    return json_response(body)


def create_app(config: ServiceConfig) -> web.Application:
    """The monolith application (the pool opens and the schema applies on startup)."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config
    orders_ddl = resources.files("targets.monolith").joinpath("schema.sql").read_text()
    schema = USERS_DDL + PRODUCTS_DDL + orders_ddl

    async def on_ready(pool: asyncpg.Pool) -> None:
        await ensure_admin(pool, config.admin_username, config.admin_password)

    app.cleanup_ctx.append(
        pool_context(
            POOL, config.database_url, config.db_pool_size, schema=schema, on_ready=on_ready
        )
    )
    app.cleanup_ctx.append(cache_context(CACHE, load_cache_settings()))
    app.add_routes(
        [
            web.get("/health", health_handler(health_database)),
            *account_routes(POOL, CONFIG),
            *product_routes(POOL, CONFIG, CACHE),
            web.post("/orders", create_order),
            web.get("/orders/{order_id}", get_order),
            web.get("/stats", stats),
        ]
    )
    return app
