"""What every backend provides, and the wiring both backends share.

A backend turns a ``Topology`` into running services. ``Backend.up`` is a
context manager: it yields a ``Deployment`` once every service answers its
health check, and tears everything down when the block exits, whatever the
reason (success, exception, KeyboardInterrupt, SIGTERM turned into an exception
by the CLI).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from harness.topology import InfraSpec, ServiceSpec, Topology

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class DeploySettings:
    """How to start a topology: limits, CPU set, secrets, where logs go."""

    run_id: str
    workdir: Path  # logs and data of this deployment live below it
    target_cpus: str = ""  # cpuset for every service and infra process ("" = no pinning)
    health_timeout: float = 60.0  # seconds
    workers: int = 1  # default worker processes per service
    overrides: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    # ^ service name -> {"cpus": float, "memory_mb": int, "workers": int, "replicas": int}
    token_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    internal_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_username: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    db_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    # Restart policy: an instance that exits (crash, kill) on its own is started again after
    # this many seconds, as an orchestrator would; None: never (tests control restarts).
    restart_delay: float | None = None
    limits: str = "auto"  # "auto" | "enforce" | "report": see [cpu] limits in harness.config


@dataclass(frozen=True)
class Restart:
    """One restart the backend's policy made: when the instance was found down, when healthy again."""

    name: str
    down_s: float  # epoch seconds the supervisor saw it gone
    healthy_s: float | None  # epoch seconds it answered its health check again (None: it did not)
    error: str = ""  # why the restart failed, when it did


@dataclass(frozen=True)
class Instance:
    """A started service or infrastructure process/container, as the report describes it."""

    name: str
    role: Literal["service", "infra"]
    cpus: float
    memory_mb: int
    workers: int
    url: str  # http://..., postgresql://... or nats://...


@dataclass(frozen=True)
class ResourceReading:
    """Cumulative resource use of one instance at one moment."""

    name: str
    time: float  # seconds (time.time())
    cpu_seconds: float  # cumulative user+system CPU seconds of all its processes
    rss_bytes: int  # current memory: PSS of its process tree (local), the cgroup's usage (docker)


class Deployment(Protocol):
    """A running target, as every backend yields it from ``up``.

    Per-instance control names an instance (a service or infrastructure piece, e.g.
    ``"catalog"`` or ``"postgres"``); an unknown name is a BenchError listing the valid ones.
    """

    target: str
    backend: str  # name of the backend that started it ("local", "docker")
    url: str  # entry service base URL, e.g. http://127.0.0.1:41234
    admin_username: str
    admin_password: str
    instances: list[Instance]
    service_urls: dict[str, str]  # every instance -> its URL (no secrets)
    startup_seconds: dict[str, float]  # instance -> s from up() to healthy; "total"
    log_dir: Path | None  # where instances log, when the backend writes files (else None)
    limits_enforced: bool  # whether each instance's cpus and memory are enforced, not only reported

    def read_resources(self) -> list[ResourceReading]:
        """One reading per instance, now."""
        ...

    def logs(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of instance ``name``'s output."""
        ...

    def pids(self, name: str) -> list[int]:
        """Host PIDs of instance ``name`` (leader first); empty while it is not running."""
        ...

    def stop_service(self, name: str, timeout: float | None = None) -> None:
        """Graceful stop of ``name``: its stop signal, SIGKILL after ``timeout`` seconds."""
        ...

    def kill_service(self, name: str) -> None:
        """SIGKILL ``name`` (a crash, not a shutdown)."""
        ...

    def start_service(self, name: str) -> float:
        """(Re)start ``name`` with its original ports and environment; seconds until healthy."""
        ...

    def restart_service(self, name: str) -> float:
        """Graceful stop, then start; seconds until healthy again."""
        ...

    def pause_service(self, name: str) -> None:
        """Freeze ``name`` (SIGSTOP / container pause): a hung dependency."""
        ...

    def resume_service(self, name: str) -> None:
        """Undo ``pause_service`` (SIGCONT / container unpause); a no-op when not paused."""
        ...

    def restarts(self) -> list[Restart]:
        """Restarts the restart policy made so far (``DeploySettings.restart_delay``)."""
        ...


class Backend(Protocol):
    """How a topology's services start: ``name``, ``available()`` and ``up()``."""

    @property
    def name(self) -> str:
        """The registry name ("local", "docker")."""
        ...

    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and why (or why not)."""
        ...

    def up(self, topology: Topology, settings: DeploySettings) -> contextlib.AbstractContextManager[Deployment]:
        """Start ``topology``; yield once healthy; always tear down on exit."""
        ...


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on 127.0.0.1."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class Wiring:
    """Ports and URLs of one deployment, shared by both backends."""

    ports: dict[str, int]  # service or infra name -> port
    db_user: str
    db_password: str
    monitor_ports: dict[str, int] = field(default_factory=dict)  # nats: monitoring, kafka: controller
    database_servers: dict[str, str] = field(default_factory=dict)  # database -> postgres infra
    kinds: dict[str, str] = field(default_factory=dict)  # infra kind -> (first) infra of that kind

    @classmethod
    def allocate(cls, topology: Topology, settings: DeploySettings) -> Wiring:
        names = [infra.name for infra in topology.infra] + [s.name for s in topology.services]
        # nats: its monitoring port; kafka: its controller listener
        monitored = [infra.name for infra in topology.infra if infra.kind in ("nats", "kafka")]
        ports = _free_ports(len(names) + len(monitored))
        wiring = cls(ports=dict(zip(names, ports, strict=False)), db_user="bench",
                     db_password=settings.db_password,
                     monitor_ports=dict(zip(monitored, ports[len(names):], strict=True)))
        for infra in topology.infra:
            wiring.kinds.setdefault(infra.kind, infra.name)
            for database in infra.databases:
                wiring.database_servers[database] = infra.name
        return wiring

    def url(self, reference: str) -> str:
        """Resolve a topology wiring reference to a URL on 127.0.0.1."""
        kind, _, name = reference.partition(":")
        if kind == "postgres":
            port = self.ports[self.database_servers.get(name, self.kinds.get("postgres", "postgres"))]
            return f"postgresql://{self.db_user}:{self.db_password}@{LOOPBACK}:{port}/{name}"
        if kind == "nats":
            return f"nats://{LOOPBACK}:{self.ports[self.kinds.get('nats', 'nats')]}"
        if kind == "redis":
            return f"redis://{LOOPBACK}:{self.ports[self.kinds.get('redis', 'redis')]}/0"
        if kind == "kafka":  # a bootstrap address, not a URL: what Kafka clients take
            return f"{LOOPBACK}:{self.ports[self.kinds.get('kafka', 'kafka')]}"
        if kind == "service":
            return f"http://{LOOPBACK}:{self.ports[name]}"
        raise ValueError(f"unknown wiring reference {reference!r}")

    def infra_url(self, spec: InfraSpec) -> str:
        """The URL of an infrastructure piece as reports show it (no credentials)."""
        scheme = "postgresql" if spec.kind == "postgres" else spec.kind
        return f"{scheme}://{LOOPBACK}:{self.ports[spec.name]}"


def replica_names(spec: ServiceSpec, settings: DeploySettings) -> list[str]:
    """Instance names of a service's replicas: its name alone, or ``name-1`` .. ``name-N``."""
    replicas = int(settings.overrides.get(spec.name, {}).get("replicas") or spec.replicas)
    return [spec.name] if replicas == 1 else [f"{spec.name}-{i}" for i in range(1, replicas + 1)]


def resolve_service(spec: ServiceSpec, settings: DeploySettings) -> tuple[float, int, int]:
    """(cpus, memory MiB, workers) of each replica of a service after config overrides."""
    override = settings.overrides.get(spec.name, {})
    cpus = float(override.get("cpus") or spec.cpus)
    memory_mb = int(override.get("memory_mb") or spec.memory_mb)
    workers = int(override.get("workers") or settings.workers or spec.workers)
    return cpus, memory_mb, workers


def resolve_infra(spec: InfraSpec, settings: DeploySettings) -> tuple[float, int]:
    """(cpus, memory MiB) of an infrastructure piece after config overrides."""
    override = settings.overrides.get(spec.name, {})
    return float(override.get("cpus") or spec.cpus), int(override.get("memory_mb") or spec.memory_mb)


def service_environment(
    spec: ServiceSpec, wiring: Wiring, settings: DeploySettings, workers: int
) -> dict[str, str]:
    """The environment variables a service is configured by (the only configuration it has)."""
    env = {
        "HOST": LOOPBACK,
        "PORT": str(wiring.ports[spec.name]),
        "WORKERS": str(workers),
        "TOKEN_SECRET": settings.token_secret,
        "INTERNAL_SECRET": settings.internal_secret,
        "ADMIN_USERNAME": settings.admin_username,
        "ADMIN_PASSWORD": settings.admin_password,
        "SERVICE_NAME": spec.name,
    }
    env.update(spec.env)
    for variable, reference in spec.wiring.items():
        env[variable] = wiring.url(reference)
    return env
