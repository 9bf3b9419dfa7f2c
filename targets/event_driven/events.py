"""The events of the event-driven target and how they travel through NATS JetStream.

One stream, ``ORDERS`` (file storage, a de-duplication window), holds every event:

- ``orders.placed``            ``OrderPlaced``  {order_id, user_id, items:[{product_id, quantity}]}
  published by ``api`` with ``Nats-Msg-Id = order_id``;
- ``orders.result.confirmed``  ``OrderResult``  {order_id, outcome:"confirmed"}
- ``orders.result.rejected``   ``OrderResult``  {order_id, outcome:"rejected"}
  published by ``inventory`` with ``Nats-Msg-Id = order_id + ".result"``.

``inventory`` reads ``orders.placed`` and ``projector`` reads ``orders.result.>``
through durable pull consumers with explicit acks: an event is acked only after
its effects are committed (and, for inventory, its result published), so a crash
anywhere before the ack means a redelivery, which the consumers absorb
idempotently. JetStream de-duplicates re-publications inside the window; the
consumers' idempotency keys (reservation per order, ``status='pending'`` guard)
cover everything outside it.

Public API: ``STREAM``, subjects, ``OrderPlaced``, ``OrderResult``,
``connect``, ``ensure_stream``, ``publish_order_placed``, ``publish_order_result``,
``consumer_config``, ``ensure_consumer``, ``run_consumer``, ``Bus``,
``nats_context``, ``check_nats``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
import orjson
from aiohttp import web
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

log = logging.getLogger("targets.event_driven.events")

STREAM = "ORDERS"
SUBJECT_PLACED = "orders.placed"
SUBJECT_RESULTS = "orders.result.>"
DUPLICATE_WINDOW_S = 120.0  # seconds JetStream remembers a Nats-Msg-Id
STREAM_MAX_AGE_S = 24 * 3600.0  # seconds an event is kept (an audit log, not a queue)
PUBLISH_TIMEOUT_S = 5.0  # seconds to wait for a PubAck before the publish counts as failed

Outcome = Literal["confirmed", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("confirmed", "rejected")


class BadEvent(ValueError):
    """An event payload that can never be processed (it is terminated, not retried)."""


@dataclass(frozen=True)
class OrderPlaced:
    """An order was accepted by the api: items to reserve, prices already recorded."""

    order_id: uuid.UUID
    user_id: int
    items: tuple[tuple[int, int], ...]  # (product_id, quantity), product ids unique

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "order_id": str(self.order_id),
                "user_id": self.user_id,
                "items": [{"product_id": p, "quantity": q} for p, q in self.items],
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> OrderPlaced:
        """Parse a payload; ``BadEvent`` when it is malformed."""
        try:
            raw = orjson.loads(data)
            items = tuple((int(i["product_id"]), int(i["quantity"])) for i in raw["items"])
            event = cls(
                order_id=uuid.UUID(raw["order_id"]), user_id=int(raw["user_id"]), items=items
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadEvent(f"malformed OrderPlaced: {exc}") from None
        if not items or len({p for p, _ in items}) != len(items) or any(q < 1 for _, q in items):
            raise BadEvent(f"OrderPlaced {event.order_id} has invalid items")
        return event


@dataclass(frozen=True)
class OrderResult:
    """Inventory's decision about one order."""

    order_id: uuid.UUID
    outcome: Outcome

    @property
    def subject(self) -> str:
        return f"orders.result.{self.outcome}"

    def encode(self) -> bytes:
        return orjson.dumps({"order_id": str(self.order_id), "outcome": self.outcome})

    @classmethod
    def decode(cls, data: bytes) -> OrderResult:
        """Parse a payload; ``BadEvent`` when it is malformed."""
        try:
            raw = orjson.loads(data)
            order_id = uuid.UUID(raw["order_id"])
            outcome = raw["outcome"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadEvent(f"malformed OrderResult: {exc}") from None
        if outcome not in OUTCOMES:
            raise BadEvent(f"OrderResult {order_id} has unknown outcome {outcome!r}")
        return cls(order_id=order_id, outcome=outcome)


async def connect(url: str, name: str) -> NatsClient:
    """A NATS connection that reconnects forever (JetStream calls fail while it is down)."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=3,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
    )


@dataclass(frozen=True)
class Bus:
    """A service's NATS connection and its JetStream context."""

    nc: NatsClient
    js: JetStreamContext

    @property
    def connected(self) -> bool:
        """False while the connection is down (JetStream calls would only time out)."""
        return bool(self.nc.is_connected)


def nats_context(
    key: web.AppKey[Bus], url: str, name: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` function: connect, ensure the stream, store the ``Bus`` in ``app[key]``."""

    async def nats_ctx(app: web.Application) -> AsyncIterator[None]:
        nc = await connect(url, name)
        try:
            js = nc.jetstream()
            await ensure_stream(js)
            app[key] = Bus(nc=nc, js=js)
            yield
        finally:
            await nc.close()

    return nats_ctx


async def check_nats(bus: Bus) -> None:
    """Raise unless NATS is connected and the stream answers (for health checks)."""
    if not bus.connected:
        raise ConnectionError("not connected to NATS")
    await bus.js.stream_info(STREAM)


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


Handler = Callable[[Msg], Awaitable[None]]


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

    ``handler`` acks (or naks) the message itself; an exception from it naks the
    message with a short delay so a transient failure (database restart, NATS
    hiccup) is retried. Cancel the task to stop; in-flight handlers are awaited.
    ``bound`` is set while the loop is subscribed (for health checks).
    """
    assert config.durable_name is not None and config.filter_subject is not None
    await ensure_consumer(js, config)
    sub = await js.pull_subscribe_bind(durable=config.durable_name, stream=STREAM)
    inflight: set[asyncio.Task[None]] = set()

    async def handle(msg: Msg) -> None:
        try:
            await handler(msg)
        except BadEvent as exc:
            log.error("terminating undeliverable event: %s", exc)
            await _quietly(msg.term())
        except Exception:
            log.exception("handling %s failed; it will be redelivered", msg.subject)
            await _quietly(msg.nak(delay=1.0))

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
