"""The monolith: every endpoint of the contract in one aiohttp app over one PostgreSQL database.

``create_app(config) -> web.Application``. ``POST /orders`` reserves stock for
every item and records the order in ONE transaction: conditional updates
(``stock >= quantity``) taken in product-id order so concurrent orders cannot
deadlock; a shortfall rolls everything back and answers 409 ``insufficient_stock``.
"""

from __future__ import annotations

import re
import uuid
from importlib import resources
from typing import Any

import asyncpg
from aiohttp import web

from targets.common.auth import (
    ROLE_USER,
    bearer_claims,
    hash_password,
    issue_token,
    require_admin,
    verify_password,
)
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, ensure_admin, pool_context
from targets.common.http import (
    MAX_BIGINT,
    ApiError,
    ValidationError,
    get_int,
    get_list,
    get_str,
    health_handler,
    json_response,
    new_application,
    path_int,
    query_int,
    read_json_object,
)

CONFIG = web.AppKey("config", ServiceConfig)
POOL = web.AppKey("pool", asyncpg.Pool)

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
MAX_ITEMS = 20
MAX_QUANTITY = 1000
MAX_AMOUNT = 1_000_000_000  # price_cents and stock upper bound
MAX_OFFSET = 1_000_000
INVALID_LOGIN = "invalid username or password"

_PRODUCT_COLUMNS = "id, name, price_cents, stock"


def _product(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "price_cents": row["price_cents"],
        "stock": row["stock"],
    }


def parse_order_items(data: dict[str, Any]) -> list[tuple[int, int]]:
    """``(product_id, quantity)`` pairs of an order body, sorted by product id (400 if invalid)."""
    raw_items = get_list(data, "items", min_items=1, max_items=MAX_ITEMS)
    items: dict[int, int] = {}
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise ValidationError(f"items[{index}] must be an object")
        product_id = get_int(raw, "product_id", minimum=1, maximum=MAX_BIGINT)
        quantity = get_int(raw, "quantity", minimum=1, maximum=MAX_QUANTITY)
        if product_id in items:
            raise ValidationError(f"items[{index}].product_id {product_id} is duplicated")
        items[product_id] = quantity
    return sorted(items.items())


async def health_database(app: web.Application) -> None:
    """Raise unless the database answers."""
    await check_pool(app[POOL])


async def create_user(request: web.Request) -> web.Response:
    data = await read_json_object(request)
    username = get_str(data, "username", min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    password = get_str(data, "password", min_length=8, max_length=128)
    password_hash = await hash_password(password)
    user_id = await request.app[POOL].fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO NOTHING RETURNING id",
        username,
        password_hash,
        ROLE_USER,
    )
    if user_id is None:
        raise ApiError(409, "conflict", f"username {username} is already taken")
    return json_response({"id": user_id, "username": username}, status=201)


async def login(request: web.Request) -> web.Response:
    data = await read_json_object(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationError("username and password are required strings")
    row = None
    if 3 <= len(username) <= 64 and USERNAME_PATTERN.fullmatch(username):
        row = await request.app[POOL].fetchrow(
            "SELECT id, password_hash, role FROM users WHERE username = $1", username
        )
    if not await verify_password(row["password_hash"] if row else None, password):
        raise ApiError(401, "unauthorized", INVALID_LOGIN)
    assert row is not None
    config = request.app[CONFIG]
    token = issue_token(row["id"], username, row["role"], config.token_secret, config.token_ttl_s)
    return json_response({"token": token})


async def list_products(request: web.Request) -> web.Response:
    limit = query_int(request.query, "limit", default=20, minimum=1, maximum=100)
    offset = query_int(request.query, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    rows = await request.app[POOL].fetch(
        f"SELECT {_PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return json_response([_product(row) for row in rows])


async def get_product(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    row = await request.app[POOL].fetchrow(
        f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE id = $1", product_id
    )
    if row is None:
        raise ApiError(404, "not_found", f"product {product_id} not found")
    return json_response(_product(row))


async def create_product(request: web.Request) -> web.Response:
    require_admin(bearer_claims(request, request.app[CONFIG].token_secret))
    data = await read_json_object(request)
    name = get_str(data, "name", min_length=1, max_length=200)
    price_cents = get_int(data, "price_cents", minimum=0, maximum=MAX_AMOUNT)
    stock = get_int(data, "stock", minimum=0, maximum=MAX_AMOUNT)
    row = await request.app[POOL].fetchrow(
        "INSERT INTO products (name, price_cents, stock) VALUES ($1, $2, $3) "
        f"RETURNING {_PRODUCT_COLUMNS}",
        name,
        price_cents,
        stock,
    )
    assert row is not None
    return json_response(_product(row), status=201)


async def create_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    data = await read_json_object(request)
    items = parse_order_items(data)  # sorted by product id: the lock order
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
    body = {"id": str(order_id), "status": "confirmed", "total_cents": total_cents, "items": lines}
    return json_response(body, status=201)


async def get_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    raw_id = request.match_info["order_id"]
    try:
        order_id = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, "not_found", "order not found") from None
    pool = request.app[POOL]
    order = await pool.fetchrow(
        "SELECT id, status, total_cents FROM orders WHERE id = $1 AND user_id = $2",
        order_id,
        claims.user_id,
    )
    if order is None:
        raise ApiError(404, "not_found", "order not found")
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
    row = await request.app[POOL].fetchrow(
        """
        SELECT
            (SELECT count(*) FROM users) AS users,
            (SELECT count(*) FROM products) AS products,
            (SELECT count(*) FROM orders WHERE status = 'pending') AS pending,
            (SELECT count(*) FROM orders WHERE status = 'confirmed') AS confirmed,
            (SELECT count(*) FROM orders WHERE status = 'rejected') AS rejected,
            (SELECT coalesce(sum(stock), 0)::bigint FROM products) AS stock_total,
            (SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i
               JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed') AS units_sold
        """
    )
    assert row is not None
    return json_response(
        {
            "users": row["users"],
            "products": row["products"],
            "orders": {
                "pending": row["pending"],
                "confirmed": row["confirmed"],
                "rejected": row["rejected"],
            },
            "stock_total": row["stock_total"],
            "units_sold": row["units_sold"],
        }
    )


def create_app(config: ServiceConfig) -> web.Application:
    """The monolith application (the pool opens and the schema applies on startup)."""
    app = new_application(config.max_body_bytes)
    app[CONFIG] = config
    schema = resources.files("targets.monolith").joinpath("schema.sql").read_text()

    async def on_ready(pool: asyncpg.Pool) -> None:
        await ensure_admin(pool, config.admin_username, config.admin_password)

    app.cleanup_ctx.append(
        pool_context(
            POOL, config.database_url, config.db_pool_size, schema=schema, on_ready=on_ready
        )
    )
    app.add_routes(
        [
            web.get("/health", health_handler(health_database)),
            web.post("/users", create_user),
            web.post("/login", login),
            web.get("/products", list_products),
            web.post("/products", create_product),
            web.get("/products/{product_id}", get_product),
            web.post("/orders", create_order),
            web.get("/orders/{order_id}", get_order),
            web.get("/stats", stats),
        ]
    )
    return app
