"""Which Kafka offsets a consumer may commit while it handles events concurrently.

Kafka remembers one committed offset per partition: "everything before this offset is
done". A consumer that handles several events of a partition at once may finish them out
of order, so it may commit only up to the *oldest event still in flight*: committing past
it would make a crash lose that event. This module keeps that bookkeeping, pure (no
client, no clock), so the rule is tested on its own (tests/unit/test_event_driven_offsets.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # a partition (aiokafka's TopicPartition)


@dataclass
class OffsetTracker(Generic[P]):
    """In-flight and finished offsets per partition, and what is safe to commit."""

    _in_flight: dict[P, set[int]] = field(default_factory=dict)
    _next: dict[P, int] = field(default_factory=dict)  # one past the highest offset started
    _committed: dict[P, int] = field(default_factory=dict)

    def started(self, partition: P, offset: int) -> None:
        """Event ``offset`` of ``partition`` was handed to a handler."""
        self._in_flight.setdefault(partition, set()).add(offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def finished(self, partition: P, offset: int) -> None:
        """Its handler returned: its effects are committed (or it was dropped as bad)."""
        pending = self._in_flight.get(partition)
        if pending is not None:
            pending.discard(offset)

    def in_flight(self) -> int:
        """How many events are being handled now."""
        return sum(len(offsets) for offsets in self._in_flight.values())

    def committable(self) -> dict[P, int]:
        """Per partition, the offset to commit now (the next one to read), where it moved on.

        The oldest in-flight offset where one is in flight, else one past the highest
        started; only partitions whose value is beyond what was last committed.
        """
        ready: dict[P, int] = {}
        for partition, upper in self._next.items():
            pending = self._in_flight.get(partition)
            offset = min(pending) if pending else upper
            if offset > self._committed.get(partition, -1):
                ready[partition] = offset
        return ready

    def committed(self, offsets: dict[P, int]) -> None:
        """The broker accepted ``offsets`` (a result of ``committable``)."""
        for partition, offset in offsets.items():
            self._committed[partition] = max(offset, self._committed.get(partition, -1))

    def forget(self, partitions: Iterable[P]) -> None:
        """Partitions taken away by a rebalance: their state belongs to the next owner."""
        for partition in partitions:
            self._in_flight.pop(partition, None)
            self._next.pop(partition, None)
            self._committed.pop(partition, None)
