"""Monolith: one aiohttp service owning one PostgreSQL database."""

from __future__ import annotations

from harness.topology import InfraSpec, ServiceSpec, Topology, with_redis_cache

TOPOLOGY = Topology(
    target="monolith",
    description="one aiohttp service (N worker processes) owning one PostgreSQL database",
    services=(
        ServiceSpec(
            name="app",
            module="targets.monolith",
            wiring={"DATABASE_URL": "postgres:shop"},
            cpus=1.0,
            memory_mb=512,
        ),
    ),
    entry="app",
    infra=(InfraSpec(kind="postgres", databases=("shop",), cpus=1.0, memory_mb=1024),),
)

# The same monolith with a Redis product cache (cache-aside, see targets.common.cache).
REDIS_TOPOLOGY = with_redis_cache(TOPOLOGY, readers=("app",))
