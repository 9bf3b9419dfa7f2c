"""Event-driven: an API, an inventory consumer and an order projector over a message broker.

``TOPOLOGY`` (target ``event-driven``) runs on NATS JetStream, the default; ``KAFKA_TOPOLOGY``
(target ``event-driven-kafka``) is derived from it by ``with_kafka``, so both declare the
same services once and differ only in the broker piece and its wiring.
"""

from __future__ import annotations

from dataclasses import replace

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

KAFKA_MEMORY_MB = 768  # the broker's instance: a 512 MiB heap (see the backends) plus the JVM


def with_kafka(base: Topology, *, cpus: float = 0.5, memory_mb: int = KAFKA_MEMORY_MB) -> Topology:
    """``base`` on Apache Kafka: target ``<base>-kafka``, its ``nats`` piece replaced by a
    ``kafka`` one (``cpus`` vCPUs, ``memory_mb`` MiB), and every service that was wired to
    NATS given ``BROKER=kafka`` and ``KAFKA_BOOTSTRAP`` instead of ``NATS_URL``.

    ValueError when ``base`` has no ``nats`` piece (there is nothing to replace).
    """
    if not any(spec.kind == "nats" for spec in base.infra):
        raise ValueError(f"{base.target}: no nats infrastructure to replace with kafka")
    services = tuple(
        replace(
            spec,
            wiring={**{k: v for k, v in spec.wiring.items() if v != "nats"},
                    "KAFKA_BOOTSTRAP": "kafka"},
            env={**spec.env, "BROKER": "kafka"},
        ) if "nats" in spec.wiring.values() else spec
        for spec in base.services
    )
    infra = tuple(
        InfraSpec(kind="kafka", cpus=cpus, memory_mb=memory_mb) if spec.kind == "nats" else spec
        for spec in base.infra
    )
    description = base.description.replace("JetStream", "Kafka")
    return replace(base, target=f"{base.target}-kafka", services=services, infra=infra,
                   description=f"{description} (Apache Kafka broker, KRaft)")


KAFKA_TOPOLOGY = with_kafka(TOPOLOGY)
