"""Orders service: places orders as a two-step saga with the catalog service.

``POST /orders``: validate, generate the order id (UUID), ask catalog to
reserve every item (``POST /internal/reservations``, one atomic, idempotent
call that also returns the unit prices), then store the order as confirmed.
If anything fails after the reservation may have been taken, including a
catalog call whose outcome is unknown (timeout, dropped connection), the
reservation is released (``DELETE /internal/reservations/{id}``, idempotent,
retried) and the client gets an error: stock never stays reserved for an
order that does not exist.

Run with ``python -m targets.microservices.orders``; configured by
``DATABASE_URL`` (its own ``orders`` database), ``CATALOG_URL``,
``TOKEN_SECRET``, ``INTERNAL_SECRET``, the common variables
(``targets.common.config``) and the HTTP pool variables
(``targets.microservices.upstream``).

Internal endpoint: ``GET /internal/stats`` -> ``{"orders": {status: n}, "units_sold": n}``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from targets.common.auth import bearer_claims
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, pool_context
from targets.common.http import (
    ApiError,
    error_response,
    health_handler,
    json_response,
    new_application,
    read_json_object,
)
from targets.common.serve import serve
from targets.microservices import orders_store as store
from targets.microservices.items import parse_order_items
from targets.microservices.upstream import (
    HTTP_CLIENT,
    UPSTREAM_ERRORS,
    UpstreamSettings,
    http_client_ctx,
    internal_headers,
    load_upstream_settings,
    require_internal,
)

log = logging.getLogger("targets.microservices.orders")

CONFIG = web.AppKey("config", ServiceConfig)
DB = web.AppKey("db", asyncpg.Pool)

RELEASE_ATTEMPTS = 3
RELEASE_BACKOFF_S = 0.2  # seconds before the 2nd attempt, doubled after each

# Catalog answers passed on to the client as they are (the order did not happen).
_PASSED_ON = {404: "not_found", 409: "insufficient_stock"}


class CompensationFailed(Exception):
    """The reservation could not be released (catalog unreachable after retries)."""


async def _reserve(app: web.Application, order_id: uuid.UUID, items: list[tuple[int, int]]) -> Any:
    """Reserve ``items`` at catalog; returns its JSON body or raises ``ApiError``.

    A catalog refusal (404, 409: nothing was reserved) is raised as that
    ``ApiError``; any other failure means the outcome is unknown and the caller
    must compensate.
    """
    config = app[CONFIG]
    payload = {
        "order_id": str(order_id),
        "items": [{"product_id": p, "quantity": q} for p, q in items],
    }
    async with app[HTTP_CLIENT].post(
        f"{config.catalog_url}/internal/reservations",
        data=orjson.dumps(payload),
        headers={**internal_headers(config.internal_secret), "Content-Type": "application/json"},
    ) as response:
        body = await response.read()
        if response.status == 200:
            return orjson.loads(body)
        if response.status in _PASSED_ON:
            data = orjson.loads(body)
            raise ApiError(response.status, data.get("error", "conflict"), data.get("message", ""))
        raise RuntimeError(f"catalog answered {response.status}: {body[:200]!r}")


async def release_reservation(app: web.Application, order_id: uuid.UUID) -> None:
    """Release ``order_id``'s reservation at catalog, retrying; ``CompensationFailed`` if never."""
    config = app[CONFIG]
    url = f"{config.catalog_url}/internal/reservations/{order_id}"
    delay = RELEASE_BACKOFF_S
    last: BaseException | None = None
    for attempt in range(RELEASE_ATTEMPTS):
        if attempt:
            await asyncio.sleep(delay)
            delay *= 2
        try:
            async with app[HTTP_CLIENT].delete(
                url, headers=internal_headers(config.internal_secret)
            ) as response:
                await response.read()
                if response.status == 200:
                    return
                last = RuntimeError(f"catalog answered {response.status}")
        except UPSTREAM_ERRORS as exc:
            last = exc
    raise CompensationFailed(f"could not release reservation {order_id}: {last!r}")


async def _compensate(app: web.Application, order_id: uuid.UUID, reason: BaseException) -> None:
    log.warning("order %s failed after reserving (%r); releasing the reservation", order_id, reason)
    try:
        # Shielded: a cancelled request must still give the stock back.
        await asyncio.shield(release_reservation(app, order_id))
    except CompensationFailed:
        log.error("order %s: reservation NOT released; stock stays reserved", order_id)


async def place_order(request: web.Request) -> web.Response:
    app = request.app
    claims = bearer_claims(request, app[CONFIG].token_secret)
    body = await read_json_object(request)
    items = parse_order_items(body)
    order_id = uuid.uuid4()
    try:
        reservation = await _reserve(app, order_id, items)
    except ApiError:
        raise  # catalog refused: nothing was reserved
    except aiohttp.ClientConnectorError:  # never connected: the request was not sent
        return error_response(503, "unavailable", "catalog service unavailable")
    except BaseException as exc:  # outcome unknown: the reservation may exist
        await _compensate(app, order_id, exc)
        if isinstance(exc, UPSTREAM_ERRORS):
            return error_response(503, "unavailable", "catalog service unavailable")
        if isinstance(exc, Exception):
            return error_response(503, "unavailable", "stock reservation failed")
        raise
    try:
        order = await store.insert_confirmed(
            app[DB], order_id, claims.user_id, reservation["items"]
        )
    except BaseException as exc:
        await _compensate(app, order_id, exc)
        if isinstance(exc, Exception):
            return error_response(503, "unavailable", "order could not be stored")
        raise
    return json_response(order, status=201)


async def get_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    raw = request.match_info["id"]
    try:
        order_id = uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", "order not found") from None
    order = await store.get_order(request.app[DB], order_id, claims.user_id)
    if order is None:
        raise ApiError(404, "not_found", "order not found")
    return json_response(order)


async def internal_stats(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    return json_response(await store.stats(request.app[DB]))


async def database(app: web.Application) -> None:
    await check_pool(app[DB])


def create_app(config: ServiceConfig, upstream: UpstreamSettings | None = None) -> web.Application:
    """The orders service application (``upstream``: HTTP pool settings, default from env)."""
    app = new_application(config.max_body_bytes)
    app[CONFIG] = config
    app.cleanup_ctx.append(http_client_ctx(upstream or load_upstream_settings()))
    app.cleanup_ctx.append(
        pool_context(DB, config.database_url, config.db_pool_size, schema=store.SCHEMA)
    )
    app.add_routes(
        [
            web.get("/health", health_handler(database)),
            web.post("/orders", place_order),
            web.get("/orders/{id}", get_order),
            web.get("/internal/stats", internal_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "CATALOG_URL", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
