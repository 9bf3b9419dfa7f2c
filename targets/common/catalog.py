"""Products, identical in every target: the ``products`` table, listing, reading, creating.

Stock changes (orders, reservations, events) are architecture-specific and stay
in each target; this module only covers the catalog part of the contract.

Public API (stable):

- ``PRODUCTS_DDL``: idempotent DDL of the ``products`` table.
- ``PRODUCT_COLUMNS``: the columns a product answer is built from, in order.
- ``MAX_AMOUNT``: largest ``price_cents`` and ``stock`` accepted (1e9).
- ``DEFAULT_LIMIT``, ``MAX_LIMIT``, ``MAX_OFFSET``: ``GET /products`` paging bounds.
- ``product_json(row) -> dict``: ``{id, name, price_cents, stock}``.
- ``parse_page(query) -> (limit, offset)``, ``parse_new_product(body) ->
  (name, price_cents, stock)``: input validation (``ValidationError``, 400).
- ``async list_products(pool, limit, offset)``, ``async get_product(pool, id)``
  (None if absent), ``async create_product(pool, name, price_cents, stock)``.
- ``async get_products(pool, ids)``: the products of ``ids`` that exist (any order).
- ``product_routes(pool_key, config_key, cache_key=None) -> list[web.RouteDef]``:
  ``GET /products``, ``GET /products/{product_id}`` and admin-only ``POST /products``;
  with ``cache_key`` (an app key holding a ``targets.common.cache.ProductCache`` or None)
  the reads go through the cache and a creation invalidates its pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp import web

from targets.common.auth import bearer_claims, require_admin
from targets.common.cache import ProductCache
from targets.common.config import ServiceConfig
from targets.common.http import (
    ApiError,
    get_int,
    get_str,
    json_response,
    path_int,
    query_int,
    read_json_object,
)

PRODUCTS_DDL = """
CREATE TABLE IF NOT EXISTS products (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       bigint NOT NULL CHECK (stock >= 0)
);
"""

PRODUCT_COLUMNS = "id, name, price_cents, stock"
MAX_AMOUNT = 1_000_000_000  # largest price_cents (cents) and stock (units) accepted
NAME_MIN, NAME_MAX = 1, 200  # characters
DEFAULT_LIMIT, MAX_LIMIT = 20, 100  # products per page
MAX_OFFSET = 1_000_000  # products skipped at most


def product_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's product body from a row holding ``PRODUCT_COLUMNS``."""
    return {
        "id": row["id"],
        "name": row["name"],
        "price_cents": row["price_cents"],
        "stock": row["stock"],
    }


def parse_page(query: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` of ``GET /products``: limit 1..100 [20], offset 0..1e6 [0]."""
    limit = query_int(query, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(query, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    return limit, offset


def parse_new_product(body: Mapping[str, Any]) -> tuple[str, int, int]:
    """``(name, price_cents, stock)`` of a ``POST /products`` body, else ``ValidationError``."""
    name = get_str(body, "name", min_length=NAME_MIN, max_length=NAME_MAX)
    price_cents = get_int(body, "price_cents", minimum=0, maximum=MAX_AMOUNT)
    stock = get_int(body, "stock", minimum=0, maximum=MAX_AMOUNT)
    return name, price_cents, stock


async def list_products(pool: asyncpg.Pool, limit: int, offset: int) -> list[dict[str, Any]]:
    """One page of products ordered by id."""
    rows = await pool.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return [product_json(row) for row in rows]


async def get_product(pool: asyncpg.Pool, product_id: int) -> dict[str, Any] | None:
    """Product ``product_id``, or None if there is none."""
    row = await pool.fetchrow(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1", product_id)
    return None if row is None else product_json(row)


async def get_products(pool: asyncpg.Pool, ids: list[int]) -> list[dict[str, Any]]:
    """The products among ``ids`` that exist, in no particular order."""
    rows = await pool.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ANY($1::bigint[])", ids
    )
    return [product_json(row) for row in rows]


async def create_product(
    pool: asyncpg.Pool, name: str, price_cents: int, stock: int
) -> dict[str, Any]:
    """Insert a product and return it."""
    row = await pool.fetchrow(
        "INSERT INTO products (name, price_cents, stock) VALUES ($1, $2, $3) "
        f"RETURNING {PRODUCT_COLUMNS}",
        name,
        price_cents,
        stock,
    )
    assert row is not None
    return product_json(row)


def product_routes(
    pool_key: web.AppKey[asyncpg.Pool],
    config_key: web.AppKey[ServiceConfig],
    cache_key: web.AppKey[ProductCache | None] | None = None,
) -> list[web.RouteDef]:
    """The public product routes over ``app[pool_key]`` (admin token checked with the config),
    through ``app[cache_key]`` when that is a cache."""

    def cache_of(request: web.Request) -> ProductCache | None:
        return request.app[cache_key] if cache_key is not None else None

    async def list_handler(request: web.Request) -> web.Response:
        limit, offset = parse_page(request.query)
        pool, cache = request.app[pool_key], cache_of(request)
        if cache is None:
            return json_response(await list_products(pool, limit, offset))
        page = await cache.page(lambda: list_products(pool, limit, offset),
                                lambda ids: get_products(pool, ids), limit, offset)
        return json_response(page)

    async def get_handler(request: web.Request) -> web.Response:
        product_id = path_int(request, "product_id")
        pool, cache = request.app[pool_key], cache_of(request)
        if cache is None:
            product = await get_product(pool, product_id)
        else:
            product = await cache.product(lambda: get_product(pool, product_id), product_id)
        if product is None:
            raise ApiError(404, "not_found", f"product {product_id} not found")
        return json_response(product)

    async def create_handler(request: web.Request) -> web.Response:
        require_admin(bearer_claims(request, request.app[config_key].token_secret))
        name, price_cents, stock = parse_new_product(await read_json_object(request))
        product = await create_product(request.app[pool_key], name, price_cents, stock)
        cache = cache_of(request)
        if cache is not None:
            await cache.invalidate_catalog()
        return json_response(product, status=201)

    return [
        web.get("/products", list_handler),
        web.get("/products/{product_id}", get_handler),
        web.post("/products", create_handler),
    ]
