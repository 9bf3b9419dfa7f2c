"""What ``inventory`` and ``projector`` share: a broker consumer loop inside a small aiohttp app.

The app owns a PostgreSQL pool, a broker client (``broker.Broker``, chosen by
``BROKER``) and the consumer task (all in ``cleanup_ctx``), and serves ``GET /health``:
200 while the database and the broker answer and the consumer loop is subscribed. With
``WORKERS`` > 1 every worker process joins the same durable consumer (JetStream) or
consumer group (Kafka), so the broker spreads events over them.

Extra environment variables (besides ``targets.common.config``):
``ACK_WAIT_S`` [15, seconds before an unacked event is redelivered: JetStream's ack wait,
Kafka's session timeout],
``CONSUMER_CONCURRENCY`` [32, events handled at once per worker],
``INVENTORY_CRASH_AFTER_COMMIT`` [0; 1 = test hook, see ``inventory``].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from targets.common.config import ServiceConfig, ServiceConfigError
from targets.common.db import check_pool, pool_context
from targets.common.http import health_handler, new_application
from targets.event_driven import broker, events
from targets.event_driven.schema import SCHEMA

log = logging.getLogger("targets.event_driven.consumer")


@dataclass(frozen=True)
class ConsumerSettings:
    """How a consumer service consumes, parsed once from the environment."""

    ack_wait_s: float = 15.0  # seconds before JetStream redelivers an unacked event
    concurrency: int = 32  # events handled at once per worker process
    crash_after_commit: bool = False  # test hook: exit between commit and ack

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsumerSettings:
        """Parse ``ACK_WAIT_S``, ``CONSUMER_CONCURRENCY``, ``INVENTORY_CRASH_AFTER_COMMIT``."""
        env = os.environ if environ is None else environ
        try:
            ack_wait_s = float(env.get("ACK_WAIT_S", "") or cls.ack_wait_s)
        except ValueError:
            raise ServiceConfigError(f"ACK_WAIT_S={env['ACK_WAIT_S']!r} is not a number") from None
        if not 0.5 <= ack_wait_s <= 3600:
            raise ServiceConfigError(f"ACK_WAIT_S={ack_wait_s} is outside 0.5..3600 seconds")
        raw = env.get("CONSUMER_CONCURRENCY", "") or str(cls.concurrency)
        if not raw.isdigit() or not 1 <= int(raw) <= 4096:
            raise ServiceConfigError(f"CONSUMER_CONCURRENCY={raw!r} is not an integer in 1..4096")
        crash = env.get("INVENTORY_CRASH_AFTER_COMMIT", "0").strip()
        if crash not in ("", "0", "1"):
            raise ServiceConfigError(f"INVENTORY_CRASH_AFTER_COMMIT={crash!r} must be 0 or 1")
        return cls(ack_wait_s=ack_wait_s, concurrency=int(raw), crash_after_commit=crash == "1")


@dataclass(frozen=True)
class ConsumerContext:
    """What a message handler works with."""

    pool: asyncpg.Pool
    broker: broker.Broker
    settings: ConsumerSettings


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("consumer loop stopped", exc_info=task.exception())


HandlerFactory = Callable[[ConsumerContext], events.Handler]

POOL = web.AppKey("pool", asyncpg.Pool)
BUS = web.AppKey("bus", broker.Broker)
BOUND = web.AppKey("bound", asyncio.Event)  # set while the consumer loop is subscribed


def create_consumer_app(
    config: ServiceConfig,
    *,
    durable: str,
    channel: events.Channel,
    make_handler: HandlerFactory,
    settings: ConsumerSettings | None = None,
) -> web.Application:
    """An app running durable consumer ``durable`` on ``channel`` with ``make_handler``'s handler."""
    settings = ConsumerSettings.from_env() if settings is None else settings
    broker_settings = broker.BrokerSettings.from_env()
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app.cleanup_ctx.append(
        pool_context(POOL, config.database_url, config.db_pool_size, schema=SCHEMA)
    )
    app.cleanup_ctx.append(broker.broker_context(BUS, broker_settings, config.service_name))

    async def consume_forever(context: ConsumerContext, bound: asyncio.Event) -> None:
        handler = make_handler(context)
        while True:  # e.g. the broker restarting while the consumer binds: try again
            try:
                await context.broker.consume(
                    durable, channel, handler, concurrency=settings.concurrency,
                    redeliver_after_s=settings.ack_wait_s, bound=bound,
                )
            except Exception:
                log.exception("consumer %s failed; restarting it in 1 s", durable)
                await asyncio.sleep(1.0)

    async def consumer_ctx(app: web.Application) -> AsyncIterator[None]:
        context = ConsumerContext(pool=app[POOL], broker=app[BUS], settings=settings)
        app[BOUND] = asyncio.Event()
        task = asyncio.create_task(consume_forever(context, app[BOUND]))
        task.add_done_callback(_log_failure)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(consumer_ctx)

    async def database(app: web.Application) -> None:
        await check_pool(app[POOL])

    async def message_broker(app: web.Application) -> None:
        await app[BUS].check()

    async def subscription(app: web.Application) -> None:
        if not app[BOUND].is_set():
            raise RuntimeError(f"consumer {durable} is not subscribed (see the log)")

    app.add_routes([web.get("/health", health_handler(database, message_broker, subscription))])
    return app
