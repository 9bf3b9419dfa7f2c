"""Order input, identical in every target: the ``items`` of ``POST /orders``.

What happens to a valid order (one transaction, a saga, an event) is what
distinguishes the architectures and stays in each target.

Public API (stable):

- ``MAX_ITEMS`` (items per order), ``MAX_QUANTITY`` (units per item).
- ``parse_order_items(body) -> list[(product_id, quantity)]``: in request order;
  ``ValidationError`` (400) for a missing/empty/too long list, a non-object item,
  a product id outside 1..bigint, a quantity outside 1..1000 or a repeated
  product id. Other fields of the body and of the items are ignored.
- ``parse_order_id(raw) -> uuid.UUID | None``: ``raw`` if it is an order id in its one
  canonical spelling (lowercase, hyphenated: what ``POST /orders`` answers), else None.
- ``path_order_id(request, name="order_id") -> uuid.UUID``: an order id path segment;
  a malformed or non-canonical id (upper case, braces, ``urn:uuid:``, no hyphens)
  is 404 ``not_found`` (it names no order), as for another user's order.
- ``order_not_found() -> ApiError``: that 404, one message everywhere.
- ``async fetch_stats(pool)``: ``GET /stats`` body for the single-database targets.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp import web

from targets.common.http import MAX_BIGINT, ApiError, ValidationError, get_int, get_list

MAX_ITEMS = 20  # items per order
MAX_QUANTITY = 1000  # units per item


def parse_order_items(body: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``body["items"]`` as ``(product_id, quantity)`` pairs, in request order."""
    raw_items = get_list(body, "items", min_items=1, max_items=MAX_ITEMS)
    items: list[tuple[int, int]] = []
    seen: set[int] = set()
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise ValidationError(f"items[{index}] must be an object")
        try:
            product_id = get_int(raw, "product_id", minimum=1, maximum=MAX_BIGINT)
            quantity = get_int(raw, "quantity", minimum=1, maximum=MAX_QUANTITY)
        except ValidationError as exc:
            raise ValidationError(f"items[{index}].{exc.message}") from None
        if product_id in seen:
            raise ValidationError(f"items[{index}].product_id {product_id} is repeated")
        seen.add(product_id)
        items.append((product_id, quantity))
    return items


def order_not_found() -> ApiError:
    """404 for an unknown order, a malformed id or someone else's order (indistinguishable)."""
    return ApiError(404, "not_found", "order not found")


def parse_order_id(raw: str) -> uuid.UUID | None:
    """``raw`` as an order id if it is spelled canonically (``str(uuid)``), else None."""
    if len(raw) != 36:  # also keeps uuid.UUID from parsing long junk
        return None
    try:
        order_id = uuid.UUID(raw)
    except ValueError:
        return None
    return order_id if str(order_id) == raw else None


def path_order_id(request: web.Request, name: str = "order_id") -> uuid.UUID:
    """Path segment ``name`` as an order id (UUID); 404 ``not_found`` unless canonical."""
    order_id = parse_order_id(request.match_info[name])
    if order_id is None:
        raise order_not_found()
    return order_id


async def fetch_stats(pool: asyncpg.Pool) -> dict[str, Any]:
    """The contract's ``/stats`` body for a target keeping every table in one database.

    Needs ``users``, ``products``, ``orders(status)`` and ``order_items(order_id,
    quantity)`` (monolith, event-driven); read in one statement, one snapshot.
    """
    row = await pool.fetchrow(
        """
        SELECT (SELECT count(*) FROM users) AS users,
               (SELECT count(*) FROM products) AS products,
               (SELECT coalesce(sum(stock), 0)::bigint FROM products) AS stock_total,
               (SELECT count(*) FROM orders WHERE status = 'pending') AS pending,
               (SELECT count(*) FROM orders WHERE status = 'confirmed') AS confirmed,
               (SELECT count(*) FROM orders WHERE status = 'rejected') AS rejected,
               (SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i
                  JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed') AS units_sold
        """
    )
    assert row is not None
    return {
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
