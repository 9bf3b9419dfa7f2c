"""The ``orders`` service's client for catalog's internal reservation endpoints.

Calls go over the worker's pooled keep-alive ``ClientSession`` and carry the
internal secret. Network failures propagate as ``aiohttp``/``OSError``/
``TimeoutError`` exceptions (see ``upstream.UPSTREAM_ERRORS``): the caller
decides whether the outcome is known.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from targets.microservices.upstream import UPSTREAM_ERRORS, internal_headers

RELEASE_ATTEMPTS = 3
RELEASE_BACKOFF_S = 0.2  # seconds before the 2nd attempt, doubled after each


class CatalogRefused(Exception):
    """Catalog refused a reservation (404 unknown product, 409): nothing was reserved."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class CatalogError(Exception):
    """Catalog answered something unexpected (a status it should never send)."""


@dataclass(frozen=True)
class CatalogClient:
    session: aiohttp.ClientSession  # the worker's pooled session
    base_url: str  # e.g. http://127.0.0.1:41234
    secret: str  # INTERNAL_SECRET

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = internal_headers(self.secret)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as response:
            raw = await response.read()
            try:
                return response.status, orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                raise CatalogError(f"{method} {path}: {response.status}, not JSON") from None

    async def reserve(self, order_id: uuid.UUID, items: list[tuple[int, int]]) -> dict[str, Any]:
        """Reserve ``(product_id, quantity)`` items; the reservation as catalog returns it.

        Raises ``CatalogRefused`` (404/409: nothing reserved) or ``CatalogError``.
        """
        payload = {
            "order_id": str(order_id),
            "items": [{"product_id": p, "quantity": q} for p, q in items],
        }
        status, body = await self._call("POST", "/internal/reservations", payload)
        if status == 200 and isinstance(body, dict):
            return body
        if status in (404, 409) and isinstance(body, dict):
            raise CatalogRefused(status, str(body.get("error")), str(body.get("message")))
        raise CatalogError(f"reserve {order_id}: catalog answered {status}")

    async def release(self, order_id: uuid.UUID) -> bool:
        """Release ``order_id``'s reservation, retrying network failures and 5xx answers.

        Returns whether stock was given back by this call; raises the last error
        (a network exception or ``CatalogError``) after ``RELEASE_ATTEMPTS`` attempts.
        """
        delay = RELEASE_BACKOFF_S
        for attempt in range(1, RELEASE_ATTEMPTS + 1):
            try:
                status, body = await self._call("DELETE", f"/internal/reservations/{order_id}")
                if status == 200 and isinstance(body, dict):
                    return bool(body.get("released"))
                if status < 500:  # e.g. 409: a confirmed reservation; retrying will not help
                    raise CatalogError(f"release {order_id}: catalog answered {status}: {body}")
                error: Exception = CatalogError(f"release {order_id}: catalog answered {status}")
            except UPSTREAM_ERRORS as exc:
                error = exc
            if attempt == RELEASE_ATTEMPTS:
                raise error
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def confirm(self, order_ids: list[uuid.UUID]) -> int:
        """Mark these reservations confirmed (their orders are stored); how many changed."""
        status, body = await self._call(
            "POST", "/internal/reservations/confirm", {"order_ids": [str(i) for i in order_ids]}
        )
        if status != 200 or not isinstance(body, dict):
            raise CatalogError(f"confirm: catalog answered {status}")
        return int(body["confirmed"])

    async def stale(self, older_than_s: int, limit: int) -> list[uuid.UUID]:
        """Reservations open for more than ``older_than_s`` seconds (oldest first, ``limit`` max)."""
        status, body = await self._call(
            "GET", f"/internal/reservations/stale?older_than_s={older_than_s}&limit={limit}"
        )
        if status != 200 or not isinstance(body, dict):
            raise CatalogError(f"stale: catalog answered {status}")
        return [uuid.UUID(raw) for raw in body["order_ids"]]
