"""One deployment lifecycle for every backend: ordering, health waits, timings, control, teardown.

``LifecycleBackend.up(topology, settings)`` is the only place that knows the
sequence: check the CPU set, let the backend prepare (reap leftovers, images),
allocate loopback ports (``Wiring``), start the infrastructure and then the
services in dependency order, wait for each to be healthy (a timeout that
reports the last log lines), record start-up timings, yield a
``ManagedDeployment``, and tear everything down in reverse order with SIGINT and
SIGTERM held, whatever ends the block.

A backend supplies only what differs (asv's ``Environment`` / Locust's ``Runner``
idea): a ``Launcher`` that turns one infrastructure piece or one service into an
``InstanceHandle`` — how it starts, stops, is killed, paused, resumed, measured
and where its output goes.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from harness.backends import health
from harness.backends.base import (
    LOOPBACK,
    DeploySettings,
    Instance,
    ResourceReading,
    Restart,
    Wiring,
    replica_names,
    resolve_infra,
    resolve_service,
    service_environment,
)
from harness.config import Config
from harness.cpus import check_cpu_list
from harness.errors import BenchError
from harness.topology import InfraSpec, ServiceSpec, Topology


class InstanceHandle(Protocol):
    """One started (or startable) service or infrastructure piece, as a backend runs it."""

    @property
    def name(self) -> str:
        """The instance name, e.g. "catalog" or "postgres"."""
        ...

    @property
    def label(self) -> str:
        """How errors name it, e.g. "catalog" or "container archbench-...-catalog (catalog)"."""
        ...

    @property
    def log_hint(self) -> str:
        """Where its full log stays, for error messages ("" when it is not kept)."""
        ...

    def start(self) -> None:
        """Start it (again) with its original ports and environment; returns at once."""
        ...

    def running(self) -> bool:
        """Whether it has not exited (a paused instance is running)."""
        ...

    def exit_code(self) -> int | None:
        """Its exit status once it exited, else None."""
        ...

    def logs(self, lines: int) -> str:
        """The last ``lines`` lines of its output."""
        ...

    def pids(self) -> list[int]:
        """Host PIDs, leader first; empty while not running."""
        ...

    def stop(self, timeout: float | None) -> None:
        """Graceful stop: its stop signal, SIGKILL after ``timeout`` seconds (None: its default)."""
        ...

    def kill(self) -> None:
        """SIGKILL, and reap: a crash, after which ``start`` works again."""
        ...

    def pause(self) -> None:
        """Freeze every process (SIGSTOP / cgroup freezer)."""
        ...

    def resume(self) -> None:
        """Thaw what ``pause`` froze."""
        ...

    def read_resources(self) -> ResourceReading:
        """Cumulative CPU seconds and current memory bytes, now."""
        ...


class Launcher(ABC):
    """What a backend does for one deployment: make handles, and clean up after them."""

    log_dir: Path | None = None  # where instances log, when on disk
    limits_enforced: bool = True  # whether instances' cpus/memory are enforced (docker: always)

    @abstractmethod
    def infra(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """A handle for infrastructure ``spec`` (not started yet)."""

    @abstractmethod
    def service(
        self, spec: ServiceSpec, instance: str, environment: dict[str, str], cpus: float,
        memory_mb: int,
    ) -> InstanceHandle:
        """A handle for ``instance`` (the service, or one replica) of ``spec`` configured by
        ``environment`` (not started yet)."""

    def read_all(self, handles: list[InstanceHandle]) -> list[ResourceReading]:
        """One reading per handle, now (a backend may batch them)."""
        return [handle.read_resources() for handle in handles]

    def teardown(self, handles: list[InstanceHandle]) -> list[str]:
        """Stop every handle for good (given in reverse start order); the problems met."""
        problems = []
        for handle in handles:
            try:
                handle.stop(None)
            except Exception as error:  # noqa: BLE001 -- keep stopping the others
                problems.append(f"{handle.name}: {error}")
        return problems

    def close(self) -> None:  # noqa: B027 -- optional hook
        """After teardown: remove what the deployment left (directories, containers)."""


@dataclass
class _Member:
    handle: InstanceHandle
    check: Callable[[], bool]
    paused: bool = False
    stopped: bool = False  # stopped on purpose: the restart policy leaves it down
    lock: threading.Lock = field(default_factory=threading.Lock)  # one start/stop at a time


@dataclass
class ManagedDeployment:
    """A running target, whichever backend started it; satisfies ``base.Deployment``."""

    target: str
    backend: str
    url: str  # entry service, e.g. http://127.0.0.1:41234
    admin_username: str
    admin_password: str
    health_timeout: float  # seconds
    log_dir: Path | None = None
    limits_enforced: bool = False
    instances: list[Instance] = field(default_factory=list)
    service_urls: dict[str, str] = field(default_factory=dict)  # instance -> URL (no secrets)
    startup_seconds: dict[str, float] = field(default_factory=dict)  # instance -> s; "total"
    _members: dict[str, _Member] = field(default_factory=dict, repr=False)
    _read_all: Callable[[list[InstanceHandle]], list[ResourceReading]] | None = field(
        default=None, repr=False)
    _restarts: list[Restart] = field(default_factory=list, repr=False)

    # -- reading ---------------------------------------------------------------------------

    def read_resources(self) -> list[ResourceReading]:
        """One reading per instance, now."""
        handles = [self._member(i.name).handle for i in self.instances]
        if self._read_all is not None:
            return self._read_all(handles)
        return [handle.read_resources() for handle in handles]

    def logs(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of instance ``name``'s output."""
        return self._member(name).handle.logs(lines)

    def pids(self, name: str) -> list[int]:
        """Host PIDs of instance ``name``, leader first; empty while it is not running."""
        return self._member(name).handle.pids()

    # -- control ---------------------------------------------------------------------------

    def stop_service(self, name: str, timeout: float | None = None) -> None:
        """Graceful stop of ``name``: its stop signal, SIGKILL after ``timeout`` seconds.

        A stopped instance stays down (the restart policy leaves it) until ``start_service``.
        """
        member = self._member(name)
        with member.lock:
            member.stopped = True
            self._thaw(member)
            member.handle.stop(timeout)

    def kill_service(self, name: str) -> None:
        """SIGKILL ``name`` (a crash, not a shutdown): the restart policy, or ``start_service``,
        brings it back."""
        member = self._member(name)
        with member.lock:
            member.handle.kill()
            member.paused = False

    def start_service(self, name: str) -> float:
        """(Re)start ``name`` with its original ports and environment; seconds until healthy."""
        member = self._member(name)
        with member.lock:
            self._thaw(member)
            member.stopped = False
            return start_and_wait(member.handle, member.check, self.health_timeout)

    def restarts(self) -> list[Restart]:
        """Restarts the restart policy made so far."""
        return list(self._restarts)

    def supervise_once(self, delay_s: float) -> list[Restart]:
        """Start again, after ``delay_s`` seconds, every instance that exited on its own.

        The restart policy's one step (``supervise`` calls it twice a second); paused and
        deliberately stopped instances are left alone. Returns the restarts made.
        """
        made = []
        for name, member in self._members.items():
            if member.stopped or member.paused or member.handle.running():
                continue
            down = time.time()
            time.sleep(delay_s)
            with member.lock:
                if member.stopped or member.handle.running():
                    continue
                try:
                    start_and_wait(member.handle, member.check, self.health_timeout)
                    restart = Restart(name, down, time.time())
                except BenchError as error:
                    restart = Restart(name, down, None, str(error).splitlines()[0])
            self._restarts.append(restart)
            made.append(restart)
        return made

    @contextlib.contextmanager
    def supervise(self, delay_s: float | None) -> Iterator[None]:
        """Run the restart policy in a thread while the block runs (``delay_s`` None: no policy)."""
        if delay_s is None:
            yield
            return
        done = threading.Event()

        def loop() -> None:
            while not done.wait(0.5):
                self.supervise_once(delay_s)

        thread = threading.Thread(target=loop, name=f"archbench-supervise-{self.target}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=self.health_timeout + delay_s + 5)

    def restart_service(self, name: str) -> float:
        """Graceful stop, then start; seconds from the start until healthy again."""
        self.stop_service(name)
        return self.start_service(name)

    def pause_service(self, name: str) -> None:
        """Freeze ``name`` (SIGSTOP / container pause): a hung dependency."""
        member = self._member(name)
        if not member.paused:
            member.handle.pause()
            member.paused = True

    def resume_service(self, name: str) -> None:
        """Undo ``pause_service``; a no-op when ``name`` is not paused."""
        self._thaw(self._member(name))

    def _thaw(self, member: _Member) -> None:
        if member.paused:
            member.handle.resume()
            member.paused = False

    def _member(self, name: str) -> _Member:
        try:
            return self._members[name]
        except KeyError:
            choices = ", ".join(self._members)
            raise BenchError(f"{self.target} has no instance {name!r}; instances: {choices}") from None

    def _add(self, instance: Instance, handle: InstanceHandle, check: Callable[[], bool]) -> None:
        self._members[instance.name] = _Member(handle, check)
        self.instances.append(instance)
        self.service_urls[instance.name] = instance.url


class LifecycleBackend(ABC):
    """The one ``up``: backends subclass it and supply ``launcher`` (and maybe ``prepare``)."""

    name: ClassVar[str]

    @classmethod
    def from_config(cls, config: Config) -> LifecycleBackend:
        """The backend as the registry builds it from bench.toml (default: no settings)."""
        return cls()

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and why (or why not)."""

    def prepare(self, topology: Topology) -> None:  # noqa: B027 -- optional hook
        """Before ports are allocated: reap leftovers, check or build images."""

    @abstractmethod
    def launcher(self, topology: Topology, settings: DeploySettings) -> Launcher:
        """A launcher for one deployment of ``topology``."""

    @contextlib.contextmanager
    def up(self, topology: Topology, settings: DeploySettings) -> Iterator[ManagedDeployment]:
        """Start ``topology``; yield once everything is healthy; always tear everything down."""
        begun = time.monotonic()
        if settings.target_cpus.strip():
            check_cpu_list(settings.target_cpus, "cpu.target_cpus")
        self.prepare(topology)
        wiring = Wiring.allocate(topology, settings)
        launcher = self.launcher(topology, settings)
        deployment = ManagedDeployment(
            target=topology.target, backend=self.name,
            url=wiring.url(f"service:{topology.entry}"),
            admin_username=settings.admin_username, admin_password=settings.admin_password,
            health_timeout=settings.health_timeout, log_dir=launcher.log_dir,
            limits_enforced=launcher.limits_enforced, _read_all=launcher.read_all,
        )
        try:
            for handle, instance, check in _plan(topology, settings, wiring, launcher):
                deployment._add(instance, handle, check)
                start_and_wait(handle, check, settings.health_timeout)
                deployment.startup_seconds[instance.name] = time.monotonic() - begun
            deployment.startup_seconds["total"] = time.monotonic() - begun
            with deployment.supervise(settings.restart_delay):
                yield deployment
        finally:
            with signals_deferred():
                _teardown(deployment, launcher)


def _plan(
    topology: Topology, settings: DeploySettings, wiring: Wiring, launcher: Launcher
) -> Iterator[tuple[InstanceHandle, Instance, Callable[[], bool]]]:
    """Every instance in start order (infrastructure first) with its handle and health check."""
    for spec in topology.infra:
        cpus, memory_mb = resolve_infra(spec, settings)
        url = wiring.infra_url(spec)
        handle = launcher.infra(spec, wiring, cpus, memory_mb)
        yield handle, Instance(spec.name, "infra", cpus, memory_mb, 1, url), infra_check(spec, wiring)
    for service in topology.start_order():
        cpus, memory_mb, workers = resolve_service(service, settings)
        url = wiring.url(f"service:{service.name}")
        environment = service_environment(service, wiring, settings, workers)
        environment["PYTHONUNBUFFERED"] = "1"
        replicas = replica_names(service, settings)
        for name in replicas:
            handle = launcher.service(service, name, environment, cpus, memory_mb)
            check = functools.partial(health.http_ok, url + service.health_path)
            if len(replicas) > 1:  # the port is shared: this replica must be listening itself
                check = functools.partial(_replica_ready, check, handle, wiring.ports[service.name])
            yield handle, Instance(name, "service", cpus, memory_mb, workers, url), check


def _replica_ready(healthy: Callable[[], bool], handle: InstanceHandle, port: int) -> bool:
    """Healthy, and this replica's own processes listen on the shared port (SO_REUSEPORT)."""
    return health.listening(handle.pids(), port) and healthy()


def infra_check(spec: InfraSpec, wiring: Wiring) -> Callable[[], bool]:
    """The health check of an infrastructure piece (the same whichever backend runs it)."""
    port = wiring.ports[spec.name]
    if spec.kind == "postgres":
        password, databases = wiring.db_password, spec.databases
        return lambda: health.in_thread(lambda: health.postgres_ready(port, password, databases))
    if spec.kind == "nats":
        monitor = f"http://127.0.0.1:{wiring.monitor_ports[spec.name]}/healthz"
        return lambda: health.http_ok(monitor)
    if spec.kind == "redis":
        return functools.partial(redis_ping, port)
    if spec.kind == "kafka":
        return lambda: health.in_thread(lambda: kafka_ready(port))
    raise BenchError(f"{spec.name}: no health check for infrastructure kind {spec.kind!r}")


def redis_ping(port: int, timeout: float = 2.0) -> bool:
    """Whether the Redis server on 127.0.0.1:``port`` answers PING with PONG (a plain socket)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            answer = b""
            while not answer.endswith(b"\r\n") and len(answer) < 256:
                chunk = connection.recv(256)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer == b"+PONG\r\n"


def kafka_ready(port: int, timeout: float = 3.0) -> bool:
    """Whether the Kafka broker on 127.0.0.1:``port`` answers a metadata request (aiokafka)
    and lists itself as a broker; False while it is starting or gone."""
    import asyncio
    import logging

    from aiokafka.client import AIOKafkaClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while starting

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=f"{LOOPBACK}:{port}", request_timeout_ms=2000)
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return bool(client.cluster.brokers())
        finally:
            await client.close()

    try:
        return asyncio.run(probe())
    except Exception:  # noqa: BLE001 -- connection refused, timeout, not ready: all "not yet"
        return False


def start_and_wait(handle: InstanceHandle, check: Callable[[], bool], timeout: float) -> float:
    """Start ``handle``, wait ``timeout`` seconds for ``check``; seconds it took.

    BenchError naming the instance, what went wrong and its last log lines otherwise.
    """
    started = time.monotonic()
    handle.start()
    outcome = health.wait_until(check, started + timeout, handle.running)
    if not outcome:
        return time.monotonic() - started
    if outcome == "exited":
        what = f"exited with code {handle.exit_code()} before it was healthy"
    else:
        what = f"not healthy after {timeout:g}s (health_timeout)"
    where = f" ({handle.log_hint})" if handle.log_hint else ""
    log = handle.logs(30).rstrip() or "(no output)"
    raise BenchError(f"{handle.label}: {what}; last lines of its log{where}:\n{log}")


def _teardown(deployment: ManagedDeployment, launcher: Launcher) -> None:
    """Resume what is paused, stop every instance in reverse start order, then clean up."""
    members = list(deployment._members.values())
    for member in members:
        with contextlib.suppress(Exception):
            deployment._thaw(member)
    problems = launcher.teardown([m.handle for m in reversed(members)])
    try:
        launcher.close()
    except Exception as error:  # noqa: BLE001 -- report, never mask the original error
        problems.append(f"clean-up: {error}")
    if problems:
        print("archbench: teardown problems: " + "; ".join(problems), file=sys.stderr)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while tearing down (a second Ctrl-C must not leave orphans); re-deliver after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, remember) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])


def parallel(function: Callable[[InstanceHandle], None], handles: list[InstanceHandle]) -> list[str]:
    """Apply ``function`` to every handle at once; the problems met (for engines that are slow per call)."""
    if not handles:
        return []

    def attempt(handle: InstanceHandle) -> str:
        try:
            function(handle)
        except Exception as error:  # noqa: BLE001 -- keep going with the others
            return f"{handle.name}: {error}"
        return ""

    with ThreadPoolExecutor(max_workers=min(8, len(handles))) as pool:
        return [problem for problem in pool.map(attempt, handles) if problem]
