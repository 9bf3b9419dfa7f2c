"""Microservices: gateway in front of users, catalog and orders, each with its own database server."""

from __future__ import annotations

from harness.topology import InfraSpec, ServiceSpec, Topology, with_redis_cache

TOPOLOGY = Topology(
    target="microservices",
    description="gateway + users + catalog + orders, a PostgreSQL server each; orders reserves stock "
    "through catalog over HTTP and compensates on failure",
    services=(
        ServiceSpec(
            name="users",
            module="targets.microservices.users",
            wiring={"DATABASE_URL": "postgres:users"},
            cpus=0.5,
            memory_mb=256,
        ),
        ServiceSpec(
            name="catalog",
            module="targets.microservices.catalog",
            wiring={"DATABASE_URL": "postgres:catalog"},
            cpus=0.5,
            memory_mb=256,
        ),
        ServiceSpec(
            name="orders",
            module="targets.microservices.orders",
            wiring={"DATABASE_URL": "postgres:orders", "CATALOG_URL": "service:catalog"},
            depends_on=("catalog",),
            cpus=0.5,
            memory_mb=256,
        ),
        ServiceSpec(
            name="gateway",
            module="targets.microservices.gateway",
            wiring={
                "USERS_URL": "service:users",
                "CATALOG_URL": "service:catalog",
                "ORDERS_URL": "service:orders",
            },
            depends_on=("users", "catalog", "orders"),
            cpus=0.5,
            memory_mb=256,
        ),
    ),
    entry="gateway",
    # One PostgreSQL server per service, as the architecture prescribes: killing one
    # database takes down only the service that owns it (and what depends on it).
    infra=tuple(
        InfraSpec(kind="postgres", instance=f"{name}-db", databases=(name,), cpus=0.5,
                  memory_mb=512)
        for name in ("users", "catalog", "orders")
    ),
)

# The same services with a Redis cache in front of the catalog's product reads (the catalog
# also makes every stock change, so it invalidates; see targets.common.cache).
REDIS_TOPOLOGY = with_redis_cache(TOPOLOGY, readers=("catalog",))
