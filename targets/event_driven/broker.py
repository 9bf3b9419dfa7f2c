"""The broker interface of the event-driven target, and the choice of adapter (``BROKER``).

Everything broker-specific lives in an adapter with this one interface; ``api``,
``consumer_app``, ``inventory`` and ``projector`` are written once against it:

- ``publish_placed(event)`` / ``publish_result(result)``: return only once the broker
  acknowledged the event durably, raise otherwise (``events.PUBLISH_TIMEOUT_S``);
- ``consume(group, channel, handler, ...)``: run forever; an event counts as done (acked,
  its offset committed) only once ``handler`` returned, so a crash before that means a
  redelivery, which the handlers absorb idempotently;
- ``check()`` (raises unless the broker answers), ``connected``, ``close()``.

Adapters: ``nats_broker.NatsBroker`` (NATS JetStream, the default) and
``kafka_broker.KafkaBroker`` (Apache Kafka). Environment: ``BROKER`` [nats] = nats | kafka;
``NATS_URL`` (nats) or ``KAFKA_BOOTSTRAP`` (kafka, ``host:port``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from aiohttp import web

from targets.common.config import ServiceConfigError
from targets.event_driven.events import Channel, Handler, OrderPlaced, OrderResult

BrokerKind = Literal["nats", "kafka"]
BROKER_KINDS: tuple[BrokerKind, ...] = ("nats", "kafka")
_ADDRESS_VARIABLE: dict[BrokerKind, str] = {"nats": "NATS_URL", "kafka": "KAFKA_BOOTSTRAP"}


class Broker(Protocol):
    """What the event-driven services need from a message broker."""

    name: str

    @property
    def connected(self) -> bool:
        """False when publishing is known to fail now (callers answer 503 at once)."""
        ...

    async def check(self) -> None:
        """Raise unless the broker answers (health checks)."""
        ...

    async def publish_placed(self, event: OrderPlaced) -> None:
        """Publish ``event``; return once the broker acknowledged it durably."""
        ...

    async def publish_result(self, result: OrderResult) -> None:
        """Publish inventory's decision; return once acknowledged."""
        ...

    async def consume(
        self, group: str, channel: Channel, handler: Handler, *, concurrency: int,
        redeliver_after_s: float, bound: asyncio.Event,
    ) -> None:
        """Handle ``channel``'s events as durable consumer ``group`` forever (``bound`` set
        while subscribed); an unfinished event is redelivered after ``redeliver_after_s`` s."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class BrokerSettings:
    """Which broker a service talks to, parsed once from the environment."""

    kind: BrokerKind = "nats"
    address: str = ""  # nats://host:port (nats) or host:port (kafka)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BrokerSettings:
        """``BROKER`` and the address variable it needs; ServiceConfigError naming the fix."""
        env = os.environ if environ is None else environ
        kind = env.get("BROKER", "").strip().lower() or "nats"
        if kind not in BROKER_KINDS:
            raise ServiceConfigError(
                f"BROKER={kind!r} is not a broker; valid choices: {', '.join(BROKER_KINDS)}"
            )
        variable = _ADDRESS_VARIABLE[kind]  # type: ignore[index]
        address = env.get(variable, "").strip()
        if not address:
            raise ServiceConfigError(f"{variable} is required with BROKER={kind}")
        return cls(kind=kind, address=address)  # type: ignore[arg-type]

    @property
    def address_variable(self) -> str:
        return _ADDRESS_VARIABLE[self.kind]


def required_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The broker's address variable for ``serve(require=...)``: NATS_URL or KAFKA_BOOTSTRAP."""
    env = os.environ if environ is None else environ
    kind = env.get("BROKER", "").strip().lower() or "nats"
    return (_ADDRESS_VARIABLE.get(kind, "NATS_URL"),)  # type: ignore[call-overload]


async def open_broker(settings: BrokerSettings, client_name: str) -> Broker:
    """Connect the adapter ``settings.kind`` names (imported only when chosen)."""
    if settings.kind == "kafka":
        from targets.event_driven.kafka_broker import KafkaBroker

        return await KafkaBroker.open(settings.address, client_name)
    from targets.event_driven.nats_broker import NatsBroker

    return await NatsBroker.open(settings.address, client_name)


def broker_context(
    key: web.AppKey[Broker], settings: BrokerSettings, client_name: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` function: open the broker into ``app[key]``, close it at the end."""

    async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
        broker = await open_broker(settings, client_name)
        try:
            app[key] = broker
            yield
        finally:
            await broker.close()

    return broker_ctx
