"""SQL of the event-driven target: orders written by ``api``, reserved by ``inventory``, projected by ``projector``.

Every function takes an asyncpg pool and runs parameterised SQL; none of them
talks to NATS, so each step's database effect is testable on its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from targets.event_driven.events import OrderPlaced, OrderResult

ReservationOutcome = Literal["confirmed", "rejected", "cancelled"]


class UnknownProduct(LookupError):
    """An order names a product id that does not exist."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


async def insert_pending_order(
    pool: asyncpg.Pool, order_id: uuid.UUID, user_id: int, items: list[tuple[int, int]]
) -> int:
    """Record a ``pending`` order with today's prices; returns its total in cents.

    Raises ``UnknownProduct`` (nothing written) when a product id does not exist.
    Stock is not checked here: reserving it is the inventory consumer's decision.
    """
    items = sorted(items)  # foreign-key checks lock products in id order
    product_ids = [product_id for product_id, _ in items]
    rows = await pool.fetch(
        "SELECT id, price_cents FROM products WHERE id = ANY($1::bigint[])", product_ids
    )
    prices = {row["id"]: row["price_cents"] for row in rows}
    for product_id in product_ids:
        if product_id not in prices:
            raise UnknownProduct(product_id)
    quantities = [quantity for _, quantity in items]
    unit_prices = [prices[product_id] for product_id in product_ids]
    total = int(sum(q * p for q, p in zip(quantities, unit_prices, strict=True)))
    # One statement, so the order and its items appear together or not at all.
    await pool.execute(
        """
        WITH new_order AS (
            INSERT INTO orders (id, user_id, status, total_cents)
            VALUES ($1, $2, 'pending', $3)
            RETURNING id
        )
        INSERT INTO order_items (order_id, product_id, quantity, price_cents)
        SELECT new_order.id, item.product_id, item.quantity, item.price_cents
        FROM new_order,
             unnest($4::bigint[], $5::int[], $6::bigint[]) AS item(product_id, quantity, price_cents)
        """,
        order_id,
        user_id,
        total,
        product_ids,
        quantities,
        unit_prices,
    )
    return total


async def cancel_unpublished_order(pool: asyncpg.Pool, order_id: uuid.UUID) -> bool:
    """Withdraw an order whose ``OrderPlaced`` publication failed; True if withdrawn.

    Claims the order's reservation slot as ``cancelled`` first: if that succeeds,
    no copy of the event (a publish that timed out yet was stored) can ever
    reserve stock, and the order row is deleted. False means the inventory
    already decided on the order, i.e. the event *was* stored and processed, so
    the order stands and may be acknowledged after all.
    """
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(
            "INSERT INTO reservations (order_id, outcome) VALUES ($1, 'cancelled') "
            "ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
            order_id,
        )
        if claimed is None:
            return False
        await conn.execute("DELETE FROM orders WHERE id = $1", order_id)
        return True


async def stale_pending_orders(
    pool: asyncpg.Pool, older_than_s: float, limit: int
) -> list[OrderPlaced]:
    """``OrderPlaced`` events rebuilt for orders still ``pending`` after ``older_than_s`` seconds.

    Such an order's event was never stored (the api died between its insert and
    the PubAck, or could not withdraw it) or its result never arrived; publishing
    it again is safe because every consumer is idempotent.
    """
    rows = await pool.fetch(
        """
        SELECT o.id, o.user_id,
               array_agg(i.product_id ORDER BY i.product_id) AS product_ids,
               array_agg(i.quantity ORDER BY i.product_id) AS quantities
        FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.status = 'pending' AND o.created_at < now() - make_interval(secs => $1)
        GROUP BY o.id
        ORDER BY min(o.created_at)
        LIMIT $2
        """,
        older_than_s,
        limit,
    )
    return [
        OrderPlaced(
            order_id=row["id"],
            user_id=row["user_id"],
            items=tuple(zip(row["product_ids"], row["quantities"], strict=True)),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class OrderView:
    """An order as its owner sees it."""

    order_id: uuid.UUID
    status: str
    total_cents: int
    items: list[dict[str, int]]  # {product_id, quantity, price_cents}, by product id

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.order_id),
            "status": self.status,
            "items": self.items,
            "total_cents": self.total_cents,
        }


async def fetch_order(pool: asyncpg.Pool, order_id: uuid.UUID, user_id: int) -> OrderView | None:
    """The order if it exists and belongs to ``user_id``, else None."""
    row = await pool.fetchrow(
        """
        SELECT o.status, o.total_cents,
               array_agg(i.product_id ORDER BY i.product_id) AS product_ids,
               array_agg(i.quantity ORDER BY i.product_id) AS quantities,
               array_agg(i.price_cents ORDER BY i.product_id) AS prices
        FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.id = $1 AND o.user_id = $2
        GROUP BY o.id
        """,
        order_id,
        user_id,
    )
    if row is None:
        return None
    items = [
        {"product_id": p, "quantity": q, "price_cents": c}
        for p, q, c in zip(row["product_ids"], row["quantities"], row["prices"], strict=True)
    ]
    return OrderView(order_id, row["status"], row["total_cents"], items)


@dataclass(frozen=True)
class Reservation:
    """Inventory's decision on one order, and whether this call made it."""

    outcome: ReservationOutcome
    fresh: bool  # False: an earlier delivery (or the api's cancellation) decided already


async def reserve_stock(pool: asyncpg.Pool, event: OrderPlaced) -> Reservation:
    """Decide an order exactly once: reserve every item or none, in one transaction.

    The reservation row keyed by order id is the idempotency record: a
    redelivered or re-published event finds it and changes nothing (a concurrent
    duplicate waits on the row's unique key and then finds it). Product rows are
    locked in id order (no deadlocks between multi-item orders) and stock is
    taken only if every item has ``stock >= quantity``. The statements run
    server-side in ``reserve_order`` (see ``schema``): one round trip per event.
    """
    items = sorted(event.items)
    row = await pool.fetchrow(
        "SELECT outcome, fresh FROM reserve_order($1, $2::bigint[], $3::bigint[])",
        event.order_id,
        [product_id for product_id, _ in items],
        [quantity for _, quantity in items],
    )
    assert row is not None
    return Reservation(row["outcome"], fresh=row["fresh"])


async def project_result(pool: asyncpg.Pool, result: OrderResult) -> bool:
    """Move a pending order to its final status; False if it was already final or is gone."""
    status = await pool.execute(
        "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1 AND status = 'pending'",
        result.order_id,
        result.outcome,
    )
    return bool(status == "UPDATE 1")
