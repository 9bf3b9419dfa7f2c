"""The NATS JetStream adapter of the event-driven target's broker (the default, ``BROKER=nats``).

One stream, ``ORDERS`` (file storage, a de-duplication window), holds every event:

- ``orders.placed``            ``OrderPlaced``, published with ``Nats-Msg-Id = order_id``;
- ``orders.result.confirmed``  ``OrderResult`` {outcome:"confirmed"}
- ``orders.result.rejected``   ``OrderResult`` {outcome:"rejected"}
  published with ``Nats-Msg-Id = order_id + ".result"``.

``inventory`` reads ``orders.placed`` and ``projector`` reads ``orders.result.>``
through durable pull consumers with explicit acks: an event is acked only after
its handler returned (its effects committed), so a crash anywhere before the ack
means a redelivery after ``ack_wait_s``, which the consumers absorb
idempotently. JetStream de-duplicates re-publications inside the window; the
consumers' idempotency keys (reservation per order, ``status='pending'`` guard)
cover everything outside it.

Public API: ``NatsBroker`` (the ``broker.Broker`` interface), and the JetStream pieces it
is made of: ``STREAM``, ``SUBJECT_PLACED``, ``SUBJECT_RESULTS``, ``connect``,
``ensure_stream``, ``publish_order_placed``, ``publish_order_result``, ``consumer_config``,
``ensure_consumer``, ``run_consumer``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from targets.event_driven.events import (
    PUBLISH_TIMEOUT_S,
    BadEvent,
    Channel,
    Handler,
    OrderPlaced,
    OrderResult,
)

log = logging.getLogger("targets.event_driven.nats")

STREAM = "ORDERS"
SUBJECT_PLACED = "orders.placed"
SUBJECT_RESULTS = "orders.result.>"
SUBJECTS: dict[Channel, str] = {"placed": SUBJECT_PLACED, "results": SUBJECT_RESULTS}
DUPLICATE_WINDOW_S = 120.0  # seconds JetStream remembers a Nats-Msg-Id
STREAM_MAX_AGE_S = 24 * 3600.0  # seconds an event is kept (an audit log, not a queue)
MAX_ACK_PENDING = 10_000  # unacked events a durable consumer may have out at once


class NatsBroker:
    """A service's NATS connection and its JetStream context, as a ``broker.Broker``."""

    name = "nats"

    def __init__(self, nc: NatsClient, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js

    @classmethod
    async def open(cls, url: str, client_name: str) -> NatsBroker:
        """Connect (reconnecting forever) and make sure the stream exists."""
        nc = await connect(url, client_name)
        try:
            js = nc.jetstream()
            await ensure_stream(js)
        except BaseException:
            await nc.close()
            raise
        return cls(nc, js)

    @property
    def connected(self) -> bool:
        """False while the connection is down (JetStream calls would only time out)."""
        return bool(self.nc.is_connected)

    async def check(self) -> None:
        """Raise unless NATS is connected and the stream answers (for health checks)."""
        if not self.connected:
            raise ConnectionError("not connected to NATS")
        await self.js.stream_info(STREAM)

    async def publish_placed(self, event: OrderPlaced) -> None:
        await publish_order_placed(self.js, event)

    async def publish_result(self, result: OrderResult) -> None:
        await publish_order_result(self.js, result)

    async def consume(
        self, group: str, channel: Channel, handler: Handler, *, concurrency: int,
        redeliver_after_s: float, bound: asyncio.Event,
    ) -> None:
        """Run durable consumer ``group`` on ``channel`` forever (see ``run_consumer``)."""
        config = consumer_config(group, SUBJECTS[channel], ack_wait_s=redeliver_after_s,
                                 max_ack_pending=MAX_ACK_PENDING)
        await run_consumer(self.js, config, handler, concurrency=concurrency, bound=bound)

    async def close(self) -> None:
        await self.nc.close()


async def connect(url: str, name: str) -> NatsClient:
    """A NATS connection that reconnects forever (JetStream calls fail while it is down)."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=3,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the ``ORDERS`` stream if absent; concurrent callers and restarts are fine."""
    config = api.StreamConfig(
        name=STREAM,
        subjects=[SUBJECT_PLACED, SUBJECT_RESULTS],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        max_age=STREAM_MAX_AGE_S,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        # Exists with another configuration (e.g. older defaults): keep it, it is usable.
        await js.stream_info(STREAM)


async def publish_order_placed(js: JetStreamContext, event: OrderPlaced) -> api.PubAck:
    """Publish and wait for JetStream's durable acknowledgement (raises on failure/timeout)."""
    return await js.publish(
        SUBJECT_PLACED,
        event.encode(),
        timeout=PUBLISH_TIMEOUT_S,
        stream=STREAM,
        headers={"Nats-Msg-Id": str(event.order_id)},
    )


async def publish_order_result(js: JetStreamContext, result: OrderResult) -> api.PubAck:
    """Publish inventory's decision, de-duplicated per order."""
    return await js.publish(
        result.subject,
        result.encode(),
        timeout=PUBLISH_TIMEOUT_S,
        stream=STREAM,
        headers={"Nats-Msg-Id": f"{result.order_id}.result"},
    )


def consumer_config(
    durable: str, subject: str, *, ack_wait_s: float, max_ack_pending: int
) -> api.ConsumerConfig:
    """A durable pull consumer with explicit acks and unlimited redelivery.

    ``ack_wait_s`` (seconds) is how long an unacked event waits before redelivery
    (the recovery time after a crashed consumer). Deliveries are not capped: an
    order whose event were dropped after N attempts would stay pending forever.
    """
    return api.ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=subject,
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
    )


async def ensure_consumer(js: JetStreamContext, config: api.ConsumerConfig) -> None:
    """Create the durable consumer if absent (identical re-creation is a no-op)."""
    assert config.durable_name is not None
    try:
        await js.add_consumer(STREAM, config)
    except nats.js.errors.BadRequestError:
        # Exists with a different configuration (e.g. another ack_wait): bind to it as it is.
        await js.consumer_info(STREAM, config.durable_name)


async def run_consumer(
    js: JetStreamContext,
    config: api.ConsumerConfig,
    handler: Handler,
    *,
    concurrency: int,
    idle_wait_s: float = 1.0,
    busy_wait_s: float = 0.02,
    bound: asyncio.Event | None = None,
) -> None:
    """Fetch and handle messages forever, at most ``concurrency`` at a time.

    nats-py's ``fetch(n)`` returns at once what is already there, but when it has
    to wait it holds the first arrival until ``n`` messages came or its timeout
    expired. So the loop alternates: while idle it waits up to ``idle_wait_s``
    seconds for a single message (handed over the moment it arrives); while busy
    it fetches up to the free capacity waiting at most ``busy_wait_s`` seconds
    (the largest delay batching adds to an event).

    ``handler`` gets the payload; the message is acked once it returns. ``BadEvent``
    terminates the message; any other exception naks it with a short delay so a
    transient failure (database restart, NATS hiccup) is retried. Cancel the task to stop; in-flight handlers are awaited.
    ``bound`` is set while the loop is subscribed (for health checks).
    """
    assert config.durable_name is not None and config.filter_subject is not None
    await ensure_consumer(js, config)
    sub = await js.pull_subscribe_bind(durable=config.durable_name, stream=STREAM)
    inflight: set[asyncio.Task[None]] = set()

    async def handle(msg: Msg) -> None:
        try:
            await handler(msg.data)
        except BadEvent as exc:
            log.error("terminating undeliverable event: %s", exc)
            await _quietly(msg.term())
        except Exception:
            log.exception("handling %s failed; it will be redelivered", msg.subject)
            await _quietly(msg.nak(delay=1.0))
        else:
            await _quietly(msg.ack())

    idle = True
    if bound is not None:
        bound.set()
    try:
        while True:
            free = concurrency - len(inflight)
            if free <= 0:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                if idle:
                    msgs = await sub.fetch(1, timeout=idle_wait_s)
                else:
                    msgs = await sub.fetch(free, timeout=busy_wait_s)
            except (TimeoutError, nats.errors.TimeoutError):
                idle = True
                continue
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                nats.js.errors.APIError,
            ) as exc:
                log.warning("fetch failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            idle = False
            for msg in msgs:
                task = asyncio.create_task(handle(msg))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
    finally:
        if bound is not None:
            bound.clear()
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        await _quietly(sub.unsubscribe())


async def _quietly(operation: Awaitable[Any]) -> None:
    """Await a best-effort NATS operation (ack/nak/unsubscribe) and log its failure."""
    try:
        await operation
    except Exception as exc:  # noqa: BLE001 - best effort: the event is simply redelivered
        log.warning("NATS operation failed: %s", exc)
