"""The Apache Kafka adapter of the event-driven target's broker (``BROKER=kafka``).

Two topics, ``orders.placed`` and ``orders.results`` (``PARTITIONS`` partitions each,
replication 1 on the single-node broker), every record keyed by its order id so the
copies of one order's event land on one partition.

Same guarantees as the NATS adapter, with Kafka's means:

- publish: an idempotent producer with ``acks=all``; ``publish_*`` returns only once the
  broker acknowledged the record (it is in the log), else raises (``PUBLISH_TIMEOUT_S``).
  Kafka has no de-duplication window: a re-published order is a second record, which the
  consumers absorb (reservation row per order, ``status='pending'`` guard);
- consume: a consumer group with auto-commit off. Events are handled up to
  ``concurrency`` at a time; the offset of a partition is committed only up to its oldest
  event still being handled (``offsets.OffsetTracker``), i.e. only after the handlers of
  everything before it returned, their database transactions committed. A handler that
  fails is retried in place (Kafka has no per-message nak); a crashed consumer's
  uncommitted events are redelivered to the group's next owner of the partition, which a
  dead member hands over after ``session_timeout`` (``redeliver_after_s``).

Public API: ``KafkaBroker`` (the ``broker.Broker`` interface), ``TOPICS``, ``PARTITIONS``,
``ensure_topics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from targets.event_driven.events import (
    PUBLISH_TIMEOUT_S,
    BadEvent,
    Channel,
    Handler,
    OrderPlaced,
    OrderResult,
)
from targets.event_driven.offsets import OffsetTracker

log = logging.getLogger("targets.event_driven.kafka")

TOPICS: dict[Channel, str] = {"placed": "orders.placed", "results": "orders.results"}
PARTITIONS = 8  # per topic: how many consumer workers can share a group's work
HEALTH_TIMEOUT_S = 2.0  # seconds a metadata request may take in a health check
RETRY_DELAY_S = 1.0  # seconds between attempts of a failing handler
IDLE_WAIT_MS = 500  # ms a poll waits for records while nothing is in flight
BUSY_WAIT_MS = 20  # ms a poll waits while handlers run (the delay batching adds at most)
REVOKE_WAIT_S = 10.0  # seconds a rebalance waits for in-flight handlers before giving up


async def ensure_topics(bootstrap: str, client_id: str) -> None:
    """Create the topics if absent (an existing topic is kept as it is)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, PARTITIONS, 1) for name in TOPICS.values()]
        )
        for topic, code, *message in getattr(response, "topic_errors", ()):
            if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                raise KafkaError(f"creating topic {topic} failed: error {code} {message}")
    finally:
        await admin.close()


class KafkaBroker:
    """A service's Kafka producer (and its consumers), as a ``broker.Broker``."""

    name = "kafka"

    def __init__(self, bootstrap: str, client_id: str, producer: AIOKafkaProducer) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.producer = producer

    @classmethod
    async def open(cls, bootstrap: str, client_id: str) -> KafkaBroker:
        """Create the topics, then start an idempotent ``acks=all`` producer."""
        await ensure_topics(bootstrap, client_id)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # a waiting client, not a throughput batch: send at once
            request_timeout_ms=int(PUBLISH_TIMEOUT_S * 1000),
        )
        await producer.start()
        return cls(bootstrap, client_id, producer)

    @property
    def connected(self) -> bool:
        """Always True: the producer reconnects by itself; a publish to a dead broker times out."""
        return True

    async def check(self) -> None:
        """Raise unless the broker answers a metadata request (for health checks)."""
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), HEALTH_TIMEOUT_S)

    async def publish_placed(self, event: OrderPlaced) -> None:
        await self._publish("placed", event.order_id.bytes, event.encode())

    async def publish_result(self, result: OrderResult) -> None:
        await self._publish("results", result.order_id.bytes, result.encode())

    async def _publish(self, channel: Channel, key: bytes, value: bytes) -> None:
        """Send one record and wait for the broker's acknowledgement (all in-sync replicas)."""
        await asyncio.wait_for(
            self.producer.send_and_wait(TOPICS[channel], value, key=key), PUBLISH_TIMEOUT_S
        )

    async def consume(
        self, group: str, channel: Channel, handler: Handler, *, concurrency: int,
        redeliver_after_s: float, bound: asyncio.Event,
    ) -> None:
        """Run consumer group ``group`` on ``channel``'s topic forever; cancel to stop."""
        session_ms = int(min(max(redeliver_after_s, 1.0), 300.0) * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=concurrency,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(300, session_ms // 4),
        )
        loop = _ConsumerLoop(consumer, handler, concurrency)
        consumer.subscribe([TOPICS[channel]], listener=loop.listener())
        await consumer.start()
        try:
            bound.set()
            await loop.run()
        finally:
            bound.clear()
            await loop.drain()
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def close(self) -> None:
        await self.producer.stop()


class _ConsumerLoop:
    """Poll, hand records to handlers (at most ``concurrency`` at once), commit what is done."""

    def __init__(self, consumer: AIOKafkaConsumer, handler: Handler, concurrency: int) -> None:
        self.consumer = consumer
        self.handler = handler
        self.concurrency = concurrency
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.inflight: dict[asyncio.Task[None], TopicPartition] = {}

    async def run(self) -> None:
        while True:
            free = self.concurrency - len(self.inflight)
            if free <= 0:
                await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
                await self.commit()
                continue
            wait_ms = BUSY_WAIT_MS if self.inflight else IDLE_WAIT_MS
            try:
                batches = await self.consumer.getmany(timeout_ms=wait_ms, max_records=free)
            except KafkaError as exc:
                log.warning("poll failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            for partition, records in batches.items():
                for record in records:
                    self.start(partition, record.offset, record.value or b"")
            await self.commit()

    def start(self, partition: TopicPartition, offset: int, value: bytes) -> None:
        self.tracker.started(partition, offset)
        task = asyncio.create_task(self.handle(value))
        self.inflight[task] = partition

        def done(finished: asyncio.Task[None]) -> None:
            self.inflight.pop(finished, None)
            self.tracker.finished(partition, offset)

        task.add_done_callback(done)

    async def handle(self, value: bytes) -> None:
        """Run the handler until it succeeds (or the event is bad): the offset waits for it."""
        while True:
            try:
                await self.handler(value)
                return
            except BadEvent as exc:
                log.error("skipping undeliverable event: %s", exc)
                return
            except Exception:
                log.exception("handling an event failed; retrying in %gs", RETRY_DELAY_S)
                await asyncio.sleep(RETRY_DELAY_S)

    async def commit(self) -> None:
        """Commit every partition's offset up to its oldest in-flight event."""
        ready = self.tracker.committable()
        if not ready:
            return
        assigned = self.consumer.assignment()
        ready = {tp: offset for tp, offset in ready.items() if tp in assigned}
        if not ready:
            return
        try:
            await self.consumer.commit(ready)  # type: ignore[arg-type]
        except KafkaError as exc:  # e.g. a rebalance: the next owner gets them again
            log.warning("committing offsets failed (%s); those events may be redelivered", exc)
            return
        self.tracker.committed(ready)

    async def drain(self, partitions: set[TopicPartition] | None = None) -> None:
        """Wait (bounded) for in-flight handlers (of ``partitions``), commit what they finished."""
        tasks = [t for t, p in self.inflight.items() if partitions is None or p in partitions]
        if tasks:
            await asyncio.wait(tasks, timeout=REVOKE_WAIT_S)
        with contextlib.suppress(Exception):
            await self.commit()

    def listener(self) -> ConsumerRebalanceListener:
        loop = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await loop.drain(set(revoked))
                loop.tracker.forget(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                loop.tracker.forget(assigned)  # a fresh start from the committed offset

        return Listener()
