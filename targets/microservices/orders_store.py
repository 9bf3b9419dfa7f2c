"""Orders persistence: confirmed orders and their items (prices as reserved by catalog).

All SQL is parameterised; functions take an asyncpg pool.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id          UUID        PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    total_cents BIGINT      NOT NULL CHECK (total_cents >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id    UUID   NOT NULL REFERENCES orders (id),
    product_id  BIGINT NOT NULL,
    quantity    INT    NOT NULL CHECK (quantity > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
"""

STATUSES = ("pending", "confirmed", "rejected")


async def insert_confirmed(
    pool: asyncpg.Pool, order_id: uuid.UUID, user_id: int, items: list[dict[str, int]]
) -> dict[str, Any]:
    """Store a confirmed order; ``items`` are ``{product_id, quantity, price_cents}``.

    Returns the order as the contract shows it (``total_cents`` in cents).
    """
    total = sum(i["quantity"] * i["price_cents"] for i in items)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO orders (id, user_id, status, total_cents) VALUES ($1, $2, 'confirmed', $3)",
            order_id,
            user_id,
            total,
        )
        await conn.executemany(
            "INSERT INTO order_items (order_id, product_id, quantity, price_cents)"
            " VALUES ($1, $2, $3, $4)",
            [(order_id, i["product_id"], i["quantity"], i["price_cents"]) for i in items],
        )
    return {"id": str(order_id), "status": "confirmed", "total_cents": total, "items": items}


async def get_order(pool: asyncpg.Pool, order_id: uuid.UUID, user_id: int) -> dict[str, Any] | None:
    """The order ``order_id`` if ``user_id`` owns it, else None."""
    async with pool.acquire() as conn:
        order = await conn.fetchrow(
            "SELECT status, total_cents FROM orders WHERE id = $1 AND user_id = $2",
            order_id,
            user_id,
        )
        if order is None:
            return None
        rows = await conn.fetch(
            "SELECT product_id, quantity, price_cents FROM order_items"
            " WHERE order_id = $1 ORDER BY product_id",
            order_id,
        )
    return {
        "id": str(order_id),
        "status": order["status"],
        "items": [dict(r) for r in rows],
        "total_cents": order["total_cents"],
    }


async def stats(pool: asyncpg.Pool) -> dict[str, Any]:
    """``{"orders": {status: count}, "units_sold": units in confirmed orders}``."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM orders GROUP BY status")
        units = await conn.fetchval(
            "SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i"
            " JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed'"
        )
    counts = {status: 0 for status in STATUSES}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return {"orders": counts, "units_sold": int(units)}
