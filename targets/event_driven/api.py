"""Event-driven ``api``: accepts commands and answers reads (``python -m targets.event_driven.api``).

``POST /orders`` validates the order, records it as ``pending`` with its prices,
publishes ``OrderPlaced`` through the broker (``broker.Broker``: NATS JetStream
or Kafka, ``BROKER``) and answers 202 only after the broker's acknowledgement: an
acknowledged order is durably in the stream or log. If the publication fails the order is withdrawn and the client gets 503
(see ``store.cancel_unpublished_order``). Users, login, products (``targets.common``
accounts/catalog), order reads and ``/stats`` read and write PostgreSQL directly.

A background task re-publishes orders still ``pending`` after ``REDRIVE_AFTER_S``
seconds [30] (checked every ``REDRIVE_AFTER_S / 3``): an api killed between its
insert and the acknowledgement must not leave an order pending forever.
Re-publishing is safe: the consumers are idempotent (and JetStream also drops copies
inside its duplicate window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from targets.common.accounts import account_routes
from targets.common.auth import bearer_claims, require_admin
from targets.common.catalog import product_routes
from targets.common.config import ServiceConfig, ServiceConfigError
from targets.common.db import check_pool, ensure_admin, pool_context
from targets.common.http import (
    ApiError,
    health_handler,
    json_response,
    new_application,
    read_json_object,
)
from targets.common.orders import fetch_stats, order_not_found, parse_order_items, path_order_id
from targets.common.serve import serve
from targets.event_driven import broker, events, store
from targets.event_driven.schema import SCHEMA

log = logging.getLogger("targets.event_driven.api")

CONFIG = web.AppKey("config", ServiceConfig)
POOL = web.AppKey("pool", asyncpg.Pool)
BUS = web.AppKey("bus", broker.Broker)

UNAVAILABLE = ApiError(503, "unavailable", "the order could not be queued; try again")
DEFAULT_REDRIVE_AFTER_S = 30.0  # seconds an order may stay pending before its event is re-sent
REDRIVE_BATCH = 500  # orders re-published per sweep at most


# --- orders ------------------------------------------------------------------------------


async def create_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    items = parse_order_items(await read_json_object(request))
    pool = request.app[POOL]
    if not request.app[BUS].connected:  # fail fast instead of waiting for the publish timeout
        raise UNAVAILABLE
    order_id = uuid.uuid4()
    try:
        await store.insert_pending_order(pool, order_id, claims.user_id, items)
    except store.UnknownProduct as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except asyncpg.ForeignKeyViolationError:
        # The token is valid but its user row is gone (e.g. a reset database).
        raise ApiError(401, "unauthorized", "invalid or expired token") from None
    event = events.OrderPlaced(order_id=order_id, user_id=claims.user_id, items=tuple(items))
    try:
        await request.app[BUS].publish_placed(event)
    except Exception as exc:  # noqa: BLE001 - any failure: the event may not be stored
        log.warning("publishing OrderPlaced %s failed: %s", order_id, exc)
        try:
            withdrawn = await store.cancel_unpublished_order(pool, order_id)
        except Exception:
            log.exception("withdrawing order %s failed; it stays pending", order_id)
            raise UNAVAILABLE from None
        if withdrawn:
            raise UNAVAILABLE from None
        log.info("order %s was processed despite the failed publish; acknowledging", order_id)
    return json_response({"id": str(order_id), "status": "pending"}, status=202)


async def get_order(request: web.Request) -> web.Response:
    claims = bearer_claims(request, request.app[CONFIG].token_secret)
    order_id = path_order_id(request)
    order = await store.fetch_order(request.app[POOL], order_id, claims.user_id)
    if order is None:
        raise order_not_found()
    return json_response(order.as_json())


async def get_stats(request: web.Request) -> web.Response:
    require_admin(bearer_claims(request, request.app[CONFIG].token_secret))
    return json_response(await fetch_stats(request.app[POOL]))


# --- redrive ------------------------------------------------------------------------------


def redrive_after_s(environ: dict[str, str] | None = None) -> float:
    """``REDRIVE_AFTER_S`` (seconds) from the environment, default 30."""
    env = dict(os.environ) if environ is None else environ
    raw = env.get("REDRIVE_AFTER_S", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_REDRIVE_AFTER_S
    except ValueError:
        raise ServiceConfigError(f"REDRIVE_AFTER_S={raw!r} is not a number") from None
    if not 0.5 <= value <= 86400:
        raise ServiceConfigError(f"REDRIVE_AFTER_S={value} is outside 0.5..86400 seconds")
    return value


async def redrive_stale_orders(
    pool: asyncpg.Pool, bus: broker.Broker, older_than_s: float
) -> int:
    """Re-publish ``OrderPlaced`` for orders pending longer than ``older_than_s``; returns how many."""
    stale = await store.stale_pending_orders(pool, older_than_s, REDRIVE_BATCH)
    for event in stale:
        await bus.publish_placed(event)
    if stale:
        log.warning("re-published %d order(s) pending for over %gs", len(stale), older_than_s)
    return len(stale)


def redrive_context(older_than_s: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` function running ``redrive_stale_orders`` every ``older_than_s / 3`` s."""

    async def loop(app: web.Application) -> None:
        while True:
            await asyncio.sleep(older_than_s / 3)
            try:
                await redrive_stale_orders(app[POOL], app[BUS], older_than_s)
            except Exception as exc:  # noqa: BLE001 - retried at the next sweep
                log.warning("re-publishing stale orders failed: %s", exc)

    async def redrive_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return redrive_ctx


# --- application -------------------------------------------------------------------------


async def database(app: web.Application) -> None:
    await check_pool(app[POOL])


async def message_broker(app: web.Application) -> None:
    await app[BUS].check()


def create_app(config: ServiceConfig) -> web.Application:
    """The api service: PostgreSQL pool (schema + admin at start) and a broker client."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config

    async def on_ready(pool: asyncpg.Pool) -> None:
        await ensure_admin(pool, config.admin_username, config.admin_password)

    app.cleanup_ctx.append(
        pool_context(
            POOL, config.database_url, config.db_pool_size, schema=SCHEMA, on_ready=on_ready
        )
    )
    app.cleanup_ctx.append(
        broker.broker_context(BUS, broker.BrokerSettings.from_env(), config.service_name)
    )
    app.cleanup_ctx.append(redrive_context(redrive_after_s()))
    app.add_routes(
        [
            web.get("/health", health_handler(database, message_broker)),
            *account_routes(POOL, CONFIG),
            *product_routes(POOL, CONFIG),
            web.post("/orders", create_order),
            web.get("/orders/{order_id}", get_order),
            web.get("/stats", get_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD", *broker.required_env()))


if __name__ == "__main__":
    main()
