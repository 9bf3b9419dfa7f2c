"""Topology: what a target is made of, declared once and started by any backend.

A target is a set of *services* (our aiohttp processes, run as ``python -m
MODULE``) and the *infrastructure* they need (PostgreSQL databases, a NATS
JetStream server). Backends (``harness.backends``) turn a ``Topology`` into
running processes or containers; they allocate loopback ports and resolve the
``wiring`` references below into environment variables.

Wiring references (values of ``ServiceSpec.wiring``):

- ``"postgres:DBNAME"`` -> a ``postgresql://user:password@127.0.0.1:PORT/DBNAME`` URL of the
  PostgreSQL server that holds database DBNAME
- ``"nats"``            -> a ``nats://127.0.0.1:PORT`` URL
- ``"redis"``           -> a ``redis://127.0.0.1:PORT/0`` URL (a cache: no persistence)
- ``"kafka"``           -> a ``127.0.0.1:PORT`` Kafka bootstrap address (one KRaft broker)
- ``"service:NAME"``    -> ``http://127.0.0.1:PORT`` of another service of the target

Every service also receives ``HOST=127.0.0.1``, ``PORT``, ``WORKERS``,
``TOKEN_SECRET``, ``INTERNAL_SECRET``, ``ADMIN_USERNAME`` and ``ADMIN_PASSWORD``
(see ``harness.backends.base.service_environment``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

InfraKind = Literal["postgres", "nats", "redis", "kafka"]


@dataclass(frozen=True)
class InfraSpec:
    """A piece of infrastructure: one PostgreSQL server (with databases) or one NATS server."""

    kind: InfraKind
    databases: tuple[str, ...] = ()  # postgres only: databases created before services start
    cpus: float = 1.0
    memory_mb: int = 512
    instance: str = ""  # its name when a target runs several of one kind (default: the kind)

    @property
    def name(self) -> str:
        return self.instance or self.kind


@dataclass(frozen=True)
class ServiceSpec:
    """One of our services, started as ``python -m module`` (or its own ``command``)."""

    name: str
    module: str = ""  # Python services: ``python -m module``
    wiring: dict[str, str] = field(default_factory=dict)  # ENV_VAR -> reference (see module doc)
    depends_on: tuple[str, ...] = ()  # services that must be healthy first
    health_path: str = "/health"
    cpus: float = 1.0
    memory_mb: int = 256
    workers: int = 1
    replicas: int = 1  # separate processes / containers sharing the port (SO_REUSEPORT)
    env: dict[str, str] = field(default_factory=dict)  # static extra environment
    # Other runtimes: the argv, run from the project root (e.g. ("node", "targets/x/server.js"));
    # empty: ``python -m module``.
    command: tuple[str, ...] = ()

    def argv(self, python: str) -> list[str]:
        """The command line that starts this service, ``python`` being the interpreter to use."""
        if self.command:
            return list(self.command)
        if not self.module:
            raise ValueError(f"service {self.name!r} declares neither a module nor a command")
        return [python, "-m", self.module]


@dataclass(frozen=True)
class Topology:
    """A target: its services, the one that load hits, and its infrastructure."""

    target: str
    description: str
    services: tuple[ServiceSpec, ...]
    entry: str
    infra: tuple[InfraSpec, ...]

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def start_order(self) -> list[ServiceSpec]:
        """Services ordered so that each comes after everything it depends on."""
        ordered: list[ServiceSpec] = []
        done: set[str] = set()
        pending = list(self.services)
        while pending:
            ready = [s for s in pending if set(s.depends_on) <= done]
            if not ready:
                names = ", ".join(s.name for s in pending)
                raise ValueError(f"{self.target}: dependency cycle among {names}")
            for spec in ready:
                ordered.append(spec)
                done.add(spec.name)
                pending.remove(spec)
        return ordered


def with_redis_cache(base: Topology, readers: tuple[str, ...], *, memory_mb: int = 256) -> Topology:
    """``base`` with a Redis product cache: target ``<base>-redis``, the same services, one
    extra ``redis`` infrastructure piece, and ``REDIS_URL`` + ``CACHE=redis`` on ``readers``
    (the services that answer product reads; ``targets.common.cache`` says what they cache).

    ``memory_mb``: the Redis instance's memory (MiB). ValueError for an unknown reader.
    """
    unknown = sorted(set(readers) - {spec.name for spec in base.services})
    if unknown or not readers:
        raise ValueError(f"{base.target}: cache readers {unknown or list(readers)} are not services "
                         f"of it; its services: {', '.join(s.name for s in base.services)}")
    services = tuple(
        replace(spec, wiring={**spec.wiring, "REDIS_URL": "redis"}, env={**spec.env, "CACHE": "redis"})
        if spec.name in readers else spec
        for spec in base.services
    )
    return replace(
        base, target=f"{base.target}-redis", services=services,
        description=f"{base.description}; product reads cached in Redis (cache-aside, invalidated "
        "on every stock change)",
        infra=(*base.infra, InfraSpec(kind="redis", cpus=0.5, memory_mb=memory_mb)),
    )
