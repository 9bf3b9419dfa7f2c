"""Validation of an order's ``items``, shared by ``orders`` and ``catalog``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from targets.common.http import MAX_BIGINT, ValidationError, get_int, get_list

MAX_ITEMS = 20
MAX_QUANTITY = 1000


def parse_order_items(body: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``body["items"]`` as ``(product_id, quantity)`` pairs, in request order.

    400 ``invalid`` for a missing/empty/too long list, a non-object item, a
    product id that is not an integer in 1..bigint (as in the other targets),
    a quantity outside 1..1000 or a repeated product id.
    """
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
