"""Catalog persistence: products, and stock reservations keyed by order id.

A reservation is the catalog's half of the order saga run by the ``orders``
service. ``reserve`` takes stock for every item of an order in one transaction
(all or nothing) and records it under the order id, so a retried call with the
same id returns the first result instead of reserving twice. ``release`` gives
the stock back (compensation) and leaves a ``released`` record behind, so a
reservation request that arrives late (after the caller gave up and released)
cannot take stock that nobody will ever pay for. ``confirm`` marks reservations
whose order was stored (``orders`` sends them in batches, off the request
path); ``stale`` lists reservations neither confirmed nor released after a
while, which ``orders`` reconciles (an orders process that died between
reserving and storing leaves exactly those).

States: ``reserved`` -> ``confirmed`` | ``released`` (both final).

All SQL is parameterised. Functions take an asyncpg connection or pool and
raise the exceptions below; HTTP mapping lives in ``catalog``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from targets.common.catalog import PRODUCTS_DDL

SCHEMA = (
    PRODUCTS_DDL
    + """
CREATE TABLE IF NOT EXISTS reservations (
    order_id   UUID        PRIMARY KEY,
    status     TEXT        NOT NULL CHECK (status IN ('reserved', 'confirmed', 'released')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reservations_open ON reservations (created_at)
    WHERE status = 'reserved';
CREATE TABLE IF NOT EXISTS reservation_items (
    order_id    UUID   NOT NULL REFERENCES reservations (order_id),
    product_id  BIGINT NOT NULL,
    quantity    INT    NOT NULL CHECK (quantity > 0),
    price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
"""
)


class UnknownProduct(Exception):
    """An item names a product that does not exist (``product_id`` attribute)."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} does not exist")
        self.product_id = product_id


class InsufficientStock(Exception):
    """An item asks for more units than are in stock (``product_id`` attribute)."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class ReservationConflict(Exception):
    """The order id already has a reservation that does not match this request."""


@dataclass(frozen=True)
class ReservedItem:
    product_id: int
    quantity: int
    price_cents: int  # unit price at reservation time, cents


@dataclass(frozen=True)
class Reservation:
    order_id: uuid.UUID
    status: str  # "reserved" | "confirmed" | "released"
    items: tuple[ReservedItem, ...]  # ordered by product_id

    @property
    def total_cents(self) -> int:
        return sum(item.quantity * item.price_cents for item in self.items)

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "status": self.status,
            "items": [
                {"product_id": i.product_id, "quantity": i.quantity, "price_cents": i.price_cents}
                for i in self.items
            ],
            "total_cents": self.total_cents,
        }


async def stats(pool: asyncpg.Pool) -> dict[str, int]:
    """``{"products": count, "stock_total": units in stock, "units_reserved": units held}``.

    ``units_reserved``: units of reservations still open (neither confirmed nor released):
    taken from stock, and counted as sold only once their order is stored, so right after
    a crash mid-order they explain a gap in ``stock_total + units_sold`` until the
    reconciler settles them.
    """
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM products) AS n,"
        " (SELECT coalesce(sum(stock), 0)::bigint FROM products) AS s,"
        " (SELECT coalesce(sum(i.quantity), 0)::bigint FROM reservation_items i"
        "  JOIN reservations r USING (order_id) WHERE r.status = 'reserved') AS held"
    )
    assert row is not None
    return {"products": int(row["n"]), "stock_total": int(row["s"]), "units_reserved": int(row["held"])}


async def _load(conn: asyncpg.Connection, order_id: uuid.UUID, status: str) -> Reservation:
    rows = await conn.fetch(
        "SELECT product_id, quantity, price_cents FROM reservation_items"
        " WHERE order_id = $1 ORDER BY product_id",
        order_id,
    )
    items = tuple(ReservedItem(r["product_id"], r["quantity"], r["price_cents"]) for r in rows)
    return Reservation(order_id, status, items)


async def reserve(
    pool: asyncpg.Pool, order_id: uuid.UUID, items: list[tuple[int, int]]
) -> tuple[Reservation, bool]:
    """Reserve every ``(product_id, quantity)`` of ``items`` for ``order_id``, all or nothing.

    Returns ``(reservation, created)``; ``created`` is False when the order id was
    already reserved with the same items (the stored result is returned, nothing
    is taken twice). Raises ``UnknownProduct``, ``InsufficientStock`` (nothing
    reserved) or ``ReservationConflict`` (order id released, or reserved with
    other items).
    """
    wanted = sorted(items)  # product-id order: concurrent orders lock rows in one order
    async with pool.acquire() as conn, conn.transaction():
        # Blocks while a concurrent request holds the same (uncommitted) order id,
        # then sees its outcome: this makes concurrent retries safe too.
        created = await conn.fetchval(
            "INSERT INTO reservations (order_id, status) VALUES ($1, 'reserved')"
            " ON CONFLICT (order_id) DO NOTHING RETURNING true",
            order_id,
        )
        if not created:
            status = await conn.fetchval(
                "SELECT status FROM reservations WHERE order_id = $1", order_id
            )
            existing = await _load(conn, order_id, status)
            if status == "released":
                raise ReservationConflict(f"order {order_id} was released; use a new order id")
            if [(i.product_id, i.quantity) for i in existing.items] != wanted:
                raise ReservationConflict(f"order {order_id} is already reserved with other items")
            return existing, False
        reserved: list[ReservedItem] = []
        for product_id, quantity in wanted:
            price = await conn.fetchval(
                "UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2"
                " RETURNING price_cents",
                product_id,
                quantity,
            )
            if price is None:  # rolls the whole transaction back
                exists = await conn.fetchval("SELECT true FROM products WHERE id = $1", product_id)
                raise InsufficientStock(product_id) if exists else UnknownProduct(product_id)
            reserved.append(ReservedItem(product_id, quantity, int(price)))
        await conn.executemany(
            "INSERT INTO reservation_items (order_id, product_id, quantity, price_cents)"
            " VALUES ($1, $2, $3, $4)",
            [(order_id, i.product_id, i.quantity, i.price_cents) for i in reserved],
        )
        return Reservation(order_id, "reserved", tuple(reserved)), True


async def release(pool: asyncpg.Pool, order_id: uuid.UUID) -> tuple[int, ...]:
    """Give back the stock reserved for ``order_id``; idempotent.

    Returns the ids of the products whose stock this call gave back (truthy), or ``()``
    when there was nothing to return (already released, or never reserved: a ``released``
    tombstone is then recorded so a late reservation for this id is refused).
    Raises ``ReservationConflict`` for a confirmed reservation (its order exists).
    """
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval(
            "SELECT status FROM reservations WHERE order_id = $1 FOR UPDATE", order_id
        )
        if status is None:
            inserted = await conn.fetchval(
                "INSERT INTO reservations (order_id, status) VALUES ($1, 'released')"
                " ON CONFLICT (order_id) DO NOTHING RETURNING true",
                order_id,
            )
            if inserted:
                return ()
            # A reservation for this id committed while we waited: release it.
            status = await conn.fetchval(
                "SELECT status FROM reservations WHERE order_id = $1 FOR UPDATE", order_id
            )
        if status == "confirmed":
            raise ReservationConflict(
                f"order {order_id} is confirmed; its stock cannot be released"
            )
        if status != "reserved":
            return ()
        reservation = await _load(conn, order_id, status)
        for item in reservation.items:  # product-id order, like reserve
            await conn.execute(
                "UPDATE products SET stock = stock + $2 WHERE id = $1",
                item.product_id,
                item.quantity,
            )
        await conn.execute(
            "UPDATE reservations SET status = 'released' WHERE order_id = $1", order_id
        )
        return tuple(item.product_id for item in reservation.items)


async def confirm(pool: asyncpg.Pool, order_ids: list[uuid.UUID]) -> int:
    """Mark the open reservations of ``order_ids`` confirmed; returns how many changed."""
    result = await pool.execute(
        "UPDATE reservations SET status = 'confirmed'"
        " WHERE order_id = ANY($1::uuid[]) AND status = 'reserved'",
        order_ids,
    )
    return int(result.rsplit(" ", 1)[1])


async def stale(pool: asyncpg.Pool, older_than_s: float, limit: int) -> list[uuid.UUID]:
    """Order ids reserved more than ``older_than_s`` seconds ago and neither confirmed nor released."""
    rows = await pool.fetch(
        "SELECT order_id FROM reservations WHERE status = 'reserved'"
        " AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        older_than_s,
        limit,
    )
    return [row["order_id"] for row in rows]
