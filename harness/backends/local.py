"""The ``local`` backend: every service and piece of infrastructure as a plain process.

``LocalBackend().up(topology, settings)`` allocates loopback ports, starts a
fresh PostgreSQL cluster and/or NATS JetStream server, then the target's
services (``python -m MODULE``) in dependency order, waits for each to be
healthy, and yields a ``LocalDeployment``. Leaving the ``with`` block, for any
reason, stops everything (SIGTERM, bounded wait, SIGKILL) and deletes the
deployment's temporary directories. Processes also die with the harness if it
is SIGKILLed (``PR_SET_PDEATHSIG``, see ``_process``).

Limits: processes are pinned to ``settings.target_cpus``; the cpus/memory of
each service are reported (and priced) but not enforced, unlike the docker backend.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends import _local_infra as infra
from harness.backends._process import ManagedProcess, ProcessSpec, check_cpuset, tail
from harness.backends._stale import claim_directory, reap_stale_directories
from harness.backends.base import (
    LOOPBACK,
    DeploySettings,
    Instance,
    ResourceReading,
    Wiring,
    free_port,
    resolve_infra,
    resolve_service,
    service_environment,
)
from harness.errors import BenchError
from harness.topology import Topology

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # services run from here so `targets` imports
_PASS_THROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH")
SERVICE_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
INFRA_STOP_TIMEOUT = 20.0  # seconds; PostgreSQL's fast shutdown writes a checkpoint


@dataclass
class LocalDeployment:
    """A running target; satisfies ``harness.backends.base.Deployment``."""

    target: str
    url: str  # entry service, e.g. http://127.0.0.1:41234
    admin_username: str
    admin_password: str
    instances: list[Instance]
    service_urls: dict[str, str]  # every service and infrastructure piece -> its URL (no secrets)
    root: Path  # temporary directory of this deployment (deleted at teardown)
    log_dir: Path
    health_timeout: float  # seconds
    logs_kept: bool = False  # whether log_dir survives teardown
    startup_seconds: dict[str, float] = field(default_factory=dict)  # name -> s from up() to healthy
    _processes: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)
    _checks: dict[str, Callable[[], bool]] = field(default_factory=dict, repr=False)
    _extra_dirs: list[Path] = field(default_factory=list, repr=False)
    _spawner: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="archbench-spawn"),
        repr=False,
    )  # the one thread every process of this deployment is forked from (see ManagedProcess)

    def read_resources(self) -> list[ResourceReading]:
        """One reading per instance, now: cumulative CPU seconds and current RSS bytes of its tree.

        RSS is summed per process, so pages shared between them (PostgreSQL's shared
        buffers, forked workers' copy-on-write pages) count once per process: an upper bound.
        """
        return [self._processes[i.name].read_resources(i.name) for i in self.instances]

    def logs(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of instance ``name``'s output."""
        return tail(self._process(name).spec.log_path, lines)

    def pids(self, name: str) -> list[int]:
        """PIDs of instance ``name``: its leader first, then every live descendant."""
        return [proc.pid for proc in self._process(name).processes()]

    def stop_service(self, name: str, timeout: float | None = None) -> None:
        """Stop instance ``name`` (SIGTERM its process group, SIGKILL after ``timeout`` seconds)."""
        self._process(name).stop(timeout)

    def kill_service(self, name: str) -> None:
        """SIGKILL instance ``name``'s whole process group at once (a crash, not a shutdown)."""
        process = self._process(name)
        process.kill()
        process.stop(timeout=5)

    def start_service(self, name: str) -> float:
        """(Re)start instance ``name`` with its original ports and environment; wait until healthy.

        Returns the seconds it took to become healthy; raises BenchError like ``up``.
        """
        started = time.monotonic()
        _start_and_wait(self._process(name), self._checks[name], self.health_timeout, self.logs_kept)
        return time.monotonic() - started

    def _process(self, name: str) -> ManagedProcess:
        try:
            return self._processes[name]
        except KeyError:
            choices = ", ".join(self._processes)
            raise BenchError(f"{self.target} has no instance {name!r}; instances: {choices}") from None


class LocalBackend:
    """Processes on this machine; PostgreSQL and NATS from system binaries or registry packages."""

    name = "local"

    def __init__(self, *, log_dir: Path | None = None) -> None:
        # log_dir: keep each deployment's logs in log_dir/<target>/ instead of deleting them.
        self.log_dir = log_dir

    @classmethod
    def from_config(cls, config: Any) -> LocalBackend:
        """The backend as the registry builds it (nothing in bench.toml configures it yet)."""
        return cls()

    def available(self) -> tuple[bool, str]:
        """Whether PostgreSQL and nats-server binaries are found here, and where."""
        try:
            bindir = infra.find_postgres_bindir()
            nats = infra.find_nats_server()
        except BenchError as error:
            return False, str(error)
        return True, f"PostgreSQL from {bindir}, nats-server {nats}"

    @contextlib.contextmanager
    def up(self, topology: Topology, settings: DeploySettings) -> Iterator[LocalDeployment]:
        """Start ``topology``; yield once everything is healthy; always tear everything down."""
        begun = time.monotonic()
        reap_stale_directories()
        cpus = check_cpuset(settings.target_cpus) if settings.target_cpus.strip() else frozenset()
        settings.workdir.mkdir(parents=True, exist_ok=True)
        wiring = Wiring.allocate(topology, settings)
        root = Path(tempfile.mkdtemp(prefix=f"archbench-{topology.target}-",
                                     dir=settings.workdir.resolve()))  # fmt: skip
        claim_directory(root)
        log_dir = self.log_dir / topology.target if self.log_dir is not None else root / "logs"
        deployment = LocalDeployment(
            target=topology.target,
            url=wiring.url(f"service:{topology.entry}"),
            admin_username=settings.admin_username,
            admin_password=settings.admin_password,
            instances=[],
            service_urls={},
            root=root,
            log_dir=log_dir,
            health_timeout=settings.health_timeout,
            logs_kept=self.log_dir is not None,
        )
        try:
            _add_processes(deployment, topology, settings, wiring, cpus)
            for name, process in deployment._processes.items():
                _start_and_wait(process, deployment._checks[name], settings.health_timeout,
                                deployment.logs_kept)  # fmt: skip
                deployment.startup_seconds[name] = time.monotonic() - begun
            deployment.startup_seconds["total"] = time.monotonic() - begun
            yield deployment
        finally:
            with _signals_deferred():
                _teardown(deployment)


# -- building a deployment -----------------------------------------------------------------


def _add_processes(
    deployment: LocalDeployment,
    topology: Topology,
    settings: DeploySettings,
    wiring: Wiring,
    cpus: frozenset[int],
) -> None:
    """Every process to start, in order (infrastructure first), with its health check."""
    log_dir = deployment.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    root = deployment.root
    base_env = {key: os.environ[key] for key in _PASS_THROUGH_ENV if key in os.environ}
    base_env.setdefault("PATH", os.defpath)
    for spec in topology.infra:
        cpus_share, memory_mb = resolve_infra(spec, settings)
        port = wiring.ports[spec.name]
        log_path = log_dir / f"{spec.name}.log"
        if spec.kind == "postgres":
            process, check = _plan_postgres(spec.databases, port, settings, root, log_path, base_env,
                                            cpus, deployment)  # fmt: skip
            url = f"postgresql://{LOOPBACK}:{port}"
        else:
            process, check = _plan_nats(port, wiring, root, log_path, base_env, cpus)
            url = f"nats://{LOOPBACK}:{port}"
        process.spawner = deployment._spawner
        deployment._processes[spec.name] = process
        deployment._checks[spec.name] = check
        deployment.service_urls[spec.name] = url
        deployment.instances.append(Instance(spec.name, "infra", cpus_share, memory_mb, 1, url))
    for service in topology.start_order():
        cpus_share, memory_mb, workers = resolve_service(service, settings)
        env = dict(base_env, PYTHONUNBUFFERED="1")
        env.update(service_environment(service, wiring, settings, workers))
        url = wiring.url(f"service:{service.name}")
        process = ManagedProcess(ProcessSpec(
            name=service.name,
            argv=[sys.executable, "-m", service.module],
            env=env,
            cwd=PROJECT_ROOT,
            log_path=log_dir / f"{service.name}.log",
            cpus=cpus,
            stop_timeout=SERVICE_STOP_TIMEOUT,
        ))  # fmt: skip
        process.spawner = deployment._spawner
        deployment._processes[service.name] = process
        deployment._checks[service.name] = _http_check(url + service.health_path)
        deployment.service_urls[service.name] = url
        deployment.instances.append(
            Instance(service.name, "service", cpus_share, memory_mb, workers, url)
        )


def _plan_postgres(
    databases: tuple[str, ...],
    port: int,
    settings: DeploySettings,
    root: Path,
    log_path: Path,
    base_env: dict[str, str],
    cpus: frozenset[int],
    deployment: LocalDeployment,
) -> tuple[ManagedProcess, Callable[[], bool]]:
    user = infra.postgres_user()
    bindir = infra.accessible_bindir(infra.find_postgres_bindir(), user)
    if user is not None:
        os.chmod(root, 0o711)  # let the postgres user reach its data dir below
    parent = infra.data_parent(root, user)
    if parent == root:
        pg_root = root / "postgres"
    else:
        pg_root = Path(tempfile.mkdtemp(prefix="archbench-pg-", dir=parent))
        claim_directory(pg_root)
        deployment._extra_dirs.append(pg_root)
    plan = infra.PostgresPlan(bindir=bindir, root=pg_root, port=port,
                              password=settings.db_password, user=user)  # fmt: skip
    env = dict(base_env, LC_ALL="C")
    env.pop("HOME", None)  # /root is not readable by the postgres user
    infra.init_postgres(plan, env, log_path)
    process = ManagedProcess(ProcessSpec(
        name="postgres",
        argv=plan.server_argv(),
        env=env,
        cwd=pg_root,
        log_path=log_path,
        cpus=cpus,
        user=user,
        stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, checkpoint, exit
        # Teardown deletes the data dir: immediate shutdown skips a checkpoint (seconds with fsync).
        discard_signal=signal.SIGQUIT,
        stop_timeout=INFRA_STOP_TIMEOUT,
        signal_group=False,  # only the postmaster: it stops its own backends
    ))  # fmt: skip

    def check() -> bool:
        return _in_thread(lambda: infra.postgres_ready(port, settings.db_password, databases))

    return process, check


def _plan_nats(
    port: int,
    wiring: Wiring,
    root: Path,
    log_path: Path,
    base_env: dict[str, str],
    cpus: frozenset[int],
) -> tuple[ManagedProcess, Callable[[], bool]]:
    binary = infra.find_nats_server()
    monitor_port = free_port()
    while monitor_port in wiring.ports.values():
        monitor_port = free_port()
    store = root / "nats"
    store.mkdir()
    process = ManagedProcess(ProcessSpec(
        name="nats",
        argv=infra.nats_argv(binary, port, monitor_port, store),
        env=dict(base_env),
        cwd=store,
        log_path=log_path,
        cpus=cpus,
        stop_timeout=INFRA_STOP_TIMEOUT,
    ))  # fmt: skip
    return process, _http_check(f"http://{LOOPBACK}:{monitor_port}/healthz")


def _http_check(url: str) -> Callable[[], bool]:
    """A health check: GET ``url`` answers 200."""
    return lambda: infra.http_ok(url)


def _in_thread(function: Callable[[], bool]) -> bool:
    """Run ``function`` in a worker thread: it may call asyncio.run while the caller's loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


# -- start, wait, stop ---------------------------------------------------------------------


def _start_and_wait(
    process: ManagedProcess,
    check: Callable[[], bool],
    timeout: float,
    logs_kept: bool,
) -> None:
    """Start ``process`` and wait ``timeout`` seconds for ``check``; BenchError with its log otherwise."""
    started = time.monotonic()
    process.start()
    outcome = infra.wait_until(check, started + timeout, process.running)
    if not outcome:
        return
    if outcome == "exited":
        what = f"exited with code {process.exit_status()} before it was healthy"
    else:
        what = f"not healthy after {timeout:g}s (health_timeout)"
    where = f" ({process.spec.log_path})" if logs_kept else ""
    log = tail(process.spec.log_path, 30).rstrip() or "(no output)"
    raise BenchError(f"{process.name}: {what}; last lines of its log{where}:\n{log}")


def _teardown(deployment: LocalDeployment) -> None:
    """Stop services in reverse start order, then infrastructure; delete temporary directories."""
    problems: list[str] = []
    # A start interrupted by Ctrl-C may still be forking: let it finish so its process is known.
    deployment._spawner.submit(lambda: None).result()
    for name, process in reversed(deployment._processes.items()):
        try:
            process.stop(discard=True)
        except Exception as error:  # noqa: BLE001 -- keep stopping the others
            problems.append(f"{name}: {error}")
    deployment._spawner.shutdown(wait=True)
    for directory in (deployment.root, *deployment._extra_dirs):
        shutil.rmtree(directory, ignore_errors=True)
    if problems:
        print("archbench: teardown problems: " + "; ".join(problems), file=sys.stderr)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
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
