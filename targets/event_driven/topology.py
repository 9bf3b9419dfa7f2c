"""Event-driven: an API, an inventory consumer and an order projector over NATS JetStream."""

from __future__ import annotations

from harness.topology import InfraSpec, ServiceSpec, Topology

_WIRING = {"DATABASE_URL": "postgres:shop", "NATS_URL": "nats"}

TOPOLOGY = Topology(
    target="event-driven",
    description="api accepts commands (202 after JetStream ack); an inventory consumer reserves "
    "stock idempotently; a projector updates order status",
    services=(
        ServiceSpec(name="api", module="targets.event_driven.api", wiring=_WIRING,
                    cpus=1.0, memory_mb=256),
        ServiceSpec(name="inventory", module="targets.event_driven.inventory", wiring=_WIRING,
                    depends_on=("api",), cpus=0.5, memory_mb=256),
        ServiceSpec(name="projector", module="targets.event_driven.projector", wiring=_WIRING,
                    depends_on=("api",), cpus=0.5, memory_mb=256),
    ),
    entry="api",
    infra=(
        InfraSpec(kind="postgres", databases=("shop",), cpus=1.0, memory_mb=1024),
        InfraSpec(kind="nats", cpus=0.5, memory_mb=256),
    ),
)
