"""The events of the event-driven target, whichever broker carries them.

- ``OrderPlaced``  {order_id, user_id, items:[{product_id, quantity}]}, published by ``api``
  on the *placed* channel once the order is stored ``pending``;
- ``OrderResult``  {order_id, outcome: "confirmed" | "rejected"}, published by ``inventory``
  on the *results* channel once its decision is committed.

How a channel maps onto a broker (a JetStream subject, a Kafka topic) is the adapter's
business (``targets.event_driven.broker``): this module holds only the payloads, their
encoding, and the handler type the consumers implement. Every payload is keyed by its
order id, which is what makes redeliveries and re-publications harmless downstream.

Public API: ``Channel``, ``CHANNELS``, ``Handler``, ``BadEvent``, ``OrderPlaced``,
``OrderResult``, ``Outcome``, ``PUBLISH_TIMEOUT_S``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import orjson

PUBLISH_TIMEOUT_S = 5.0  # seconds to wait for the broker's acknowledgement of a publish

Channel = Literal["placed", "results"]
CHANNELS: tuple[Channel, ...] = ("placed", "results")

# A consumer's handler gets one event payload; returning means its effects are committed and
# the broker may forget the event (ack / offset commit). Raising ``BadEvent`` drops the event
# for good; any other exception means "deliver it again".
Handler = Callable[[bytes], Awaitable[None]]

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
        """The NATS subject it travels under (``nats_broker``; Kafka keys it by order id)."""
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


