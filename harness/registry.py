"""The explicit list of reference targets (no import-time discovery)."""

from __future__ import annotations

from harness.errors import ConfigError
from harness.topology import Topology
from targets.event_driven.topology import KAFKA_TOPOLOGY as EVENT_DRIVEN_KAFKA
from targets.event_driven.topology import TOPOLOGY as EVENT_DRIVEN
from targets.express_monolith.topology import TOPOLOGY as EXPRESS_MONOLITH
from targets.microservices.topology import REDIS_TOPOLOGY as MICROSERVICES_REDIS
from targets.microservices.topology import TOPOLOGY as MICROSERVICES
from targets.monolith.topology import REDIS_TOPOLOGY as MONOLITH_REDIS
from targets.monolith.topology import TOPOLOGY as MONOLITH

TARGETS: dict[str, Topology] = {
    t.target: t for t in (MONOLITH, MICROSERVICES, EVENT_DRIVEN, EXPRESS_MONOLITH,
                          # variants: the same target with a Redis product cache
                          MONOLITH_REDIS, MICROSERVICES_REDIS,
                          # event-driven on Apache Kafka instead of NATS JetStream
                          EVENT_DRIVEN_KAFKA)
}


def get_topology(name: str) -> Topology:
    """Return the topology of target ``name`` or fail naming the valid choices."""
    try:
        return TARGETS[name]
    except KeyError:
        choices = ", ".join(TARGETS)
        raise ConfigError(f"unknown target {name!r}; valid targets: {choices}") from None
