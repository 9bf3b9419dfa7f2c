"""Validation of an order's ``items``, shared by ``orders`` and ``catalog``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from targets.common.http import MAX_BIGINT, ApiError, ValidationError, get_int, get_list

MAX_ITEMS = 20
MAX_QUANTITY = 1000


def parse_order_items(body: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``body["items"]`` as ``(product_id, quantity)`` pairs, in request order.

    400 ``invalid`` for a missing/empty/too long list, a non-object item, a
    non-integer id, a quantity outside 1..1000 or a repeated product id. An
    integer id no product can have (below 1, above bigint) is 404 ``not_found``,
    raised only once the whole list is otherwise valid.
    """
    raw_items = get_list(body, "items", min_items=1, max_items=MAX_ITEMS)
    items: list[tuple[int, int]] = []
    seen: set[int] = set()
    impossible: int | None = None
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise ValidationError(f"items[{index}] must be an object")
        product_id = raw.get("product_id")
        if not isinstance(product_id, int) or isinstance(product_id, bool):
            raise ValidationError(f"items[{index}].product_id must be an integer")
        quantity = get_int(raw, "quantity", minimum=1, maximum=MAX_QUANTITY)
        if product_id in seen:
            raise ValidationError(f"items[{index}].product_id {product_id} is repeated")
        seen.add(product_id)
        if not 1 <= product_id <= MAX_BIGINT and impossible is None:
            impossible = product_id
        items.append((product_id, quantity))
    if impossible is not None:
        raise ApiError(404, "not_found", f"product {impossible} not found")
    return items
