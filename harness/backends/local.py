"""The ``local`` backend: every service and piece of infrastructure as a plain process.

The lifecycle (ordering, health waits, timings, teardown) is ``lifecycle.LifecycleBackend``'s;
this module says only how one process starts and is controlled: a fresh PostgreSQL
cluster or NATS JetStream server, or ``python -m MODULE`` for a service, each in its
own session (one ``killpg`` reaches its tree), pinned to ``settings.target_cpus``,
logging to one file, and dying with the harness even when it is SIGKILLed
(``PR_SET_PDEATHSIG``, see ``_process``). Teardown deletes the deployment's
temporary directories.

Limits: processes are pinned to ``settings.target_cpus``; the cpus/memory of each
service are reported (and priced) but not enforced, unlike the docker backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.backends import _kafka as kafka
from harness.backends import _local_infra as infra
from harness.backends._cgroups import CgroupSupport, InstanceCgroups, detect, reap_stale_cgroups
from harness.backends._process import ManagedProcess, ProcessSpec, tail
from harness.backends._stale import claim_directory
from harness.backends.base import DeploySettings, ResourceReading, Wiring
from harness.backends.lifecycle import InstanceHandle, Launcher, LifecycleBackend
from harness.cpus import parse_cpu_list
from harness.errors import BenchError
from harness.topology import InfraSpec, ServiceSpec, Topology

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # services run from here so `targets` imports
_PASS_THROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH")
SERVICE_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
INFRA_STOP_TIMEOUT = 20.0  # seconds; PostgreSQL's fast shutdown writes a checkpoint


@dataclass
class ProcessHandle:
    """One process tree of a local deployment (an ``InstanceHandle``)."""

    process: ManagedProcess
    logs_kept: bool = False
    postgres_data: Path | None = None  # a PostgreSQL data dir whose stale lock file a restart clears

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def label(self) -> str:
        return self.process.name

    @property
    def log_hint(self) -> str:
        return str(self.process.spec.log_path) if self.logs_kept else ""

    def start(self) -> None:
        if self.postgres_data is not None and not self.process.running():
            _clear_stale_postmaster_pid(self.postgres_data)
        self.process.start()

    def running(self) -> bool:
        return self.process.running()

    def exit_code(self) -> int | None:
        return self.process.exit_status()

    def logs(self, lines: int) -> str:
        return tail(self.process.spec.log_path, lines)

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.process.processes()]

    def stop(self, timeout: float | None) -> None:
        self.process.stop(timeout)

    def discard(self) -> None:
        """Stop for good: its data is deleted next (PostgreSQL skips its checkpoint)."""
        self.process.stop(discard=True)

    def kill(self) -> None:
        self.process.kill()
        self.process.stop(timeout=5)  # reap, so a restart finds no zombie holding its pid

    def pause(self) -> None:
        self._signal_tree(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_tree(signal.SIGCONT)

    def read_resources(self) -> ResourceReading:
        return self.process.read_resources(self.name)

    def _signal_tree(self, signum: int) -> None:
        for proc in self.process.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signum)


def _clear_stale_postmaster_pid(data: Path) -> None:
    """Remove ``postmaster.pid`` when the postmaster it names is gone (a killed server's lock).

    PostgreSQL refuses to start while the file names a live process; a killed
    postmaster leaves it behind. A live, non-zombie process keeps it.
    """
    lock = data / "postmaster.pid"
    try:
        pid = int(lock.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        alive = False
    if not alive:
        lock.unlink(missing_ok=True)


class _LocalLauncher(Launcher):
    """Processes of one local deployment, below one temporary directory."""

    def __init__(self, topology: Topology, settings: DeploySettings, kept_logs: Path | None) -> None:
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.root = Path(tempfile.mkdtemp(prefix=f"archbench-{topology.target}-",
                                          dir=settings.workdir.resolve()))
        claim_directory(self.root)
        self.logs_kept = kept_logs is not None
        self.logs: Path = kept_logs / topology.target if kept_logs is not None else self.root / "logs"
        self.log_dir = self.logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.cpus = parse_cpu_list(settings.target_cpus)
        self.extra_dirs: list[Path] = []
        self.cgroups = _limits_support(settings.limits)
        self.limits_enforced = self.cgroups is not None
        self.deployment_id = self.root.name.removeprefix("archbench-")
        self.groups: list[InstanceCgroups] = []
        self.base_env = {key: os.environ[key] for key in _PASS_THROUGH_ENV if key in os.environ}
        self.base_env.setdefault("PATH", os.defpath)
        # PR_SET_PDEATHSIG fires when the *forking thread* exits: every process of this
        # deployment is forked from one thread that lives as long as the deployment.
        self.spawner = ThreadPoolExecutor(1, thread_name_prefix="archbench-spawn")

    def _limited(self, spec: ProcessSpec, cpus: float, memory_mb: int) -> ProcessSpec:
        """``spec`` joining cgroups that enforce ``cpus`` vCPUs and ``memory_mb`` MiB (when enforcing)."""
        if self.cgroups is None:
            return spec
        groups = InstanceCgroups.create(self.cgroups, self.deployment_id, spec.name, cpus, memory_mb)
        self.groups.append(groups)
        return dataclasses.replace(spec, cgroup_procs=groups.procs_files)

    def _handle(self, spec: ProcessSpec, postgres_data: Path | None = None) -> ProcessHandle:
        process = ManagedProcess(spec)
        process.spawner = self.spawner
        return ProcessHandle(process, self.logs_kept, postgres_data)

    def service(
        self, spec: ServiceSpec, instance: str, environment: dict[str, str], cpus: float,
        memory_mb: int,
    ) -> InstanceHandle:
        env = dict(self.base_env)
        env.update(environment)
        return self._handle(self._limited(ProcessSpec(
            name=instance, argv=spec.argv(sys.executable), env=env, cwd=PROJECT_ROOT,
            log_path=self.logs / f"{instance}.log", cpus=self.cpus,
            stop_timeout=SERVICE_STOP_TIMEOUT,
        ), cpus, memory_mb))

    def infra(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """One infrastructure piece: each kind has its own method (``_postgres``, ``_nats``, ...)."""
        starters = {"postgres": self._postgres, "nats": self._nats, "redis": self._redis,
                    "kafka": self._kafka}
        return starters[spec.kind](spec, wiring, cpus, memory_mb)

    def _nats(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """NATS with JetStream, its store below the deployment's directory."""
        store = self.root / spec.name
        store.mkdir()
        argv = infra.nats_argv(infra.find_nats_server(), wiring.ports[spec.name],
                               wiring.monitor_ports[spec.name], store)
        return self._handle(self._limited(ProcessSpec(
            name=spec.name, argv=argv, env=dict(self.base_env), cwd=store,
            log_path=self.logs / f"{spec.name}.log", cpus=self.cpus,
            stop_timeout=INFRA_STOP_TIMEOUT,
        ), cpus, memory_mb))

    def _redis(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """A cache-only Redis (no persistence), its working dir below the deployment's directory."""
        store = self.root / spec.name
        store.mkdir()
        argv = infra.redis_argv(infra.find_redis_server(), wiring.ports[spec.name], store, memory_mb)
        return self._handle(self._limited(ProcessSpec(
            name=spec.name, argv=argv, env=dict(self.base_env), cwd=store,
            log_path=self.logs / f"{spec.name}.log", cpus=self.cpus,
            stop_timeout=INFRA_STOP_TIMEOUT,
        ), cpus, memory_mb))

    def _kafka(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """A single-node KRaft broker (storage formatted now), as an unprivileged user when root."""
        java, jars = kafka.find_java(), kafka.find_kafka_jars()
        user = infra.postgres_user()  # the same unprivileged user as PostgreSQL's
        if user is not None:
            os.chmod(self.root, 0o711)
        parent = infra.data_parent(self.root, user)
        root = self.root / spec.name if parent == self.root else Path(
            tempfile.mkdtemp(prefix="archbench-kafka-", dir=parent))
        if root != self.root / spec.name:
            claim_directory(root)
            self.extra_dirs.append(root)
        plan = kafka.KafkaPlan(java=java, jars=kafka.accessible_jars(jars, user), root=root,
                               port=wiring.ports[spec.name],
                               controller_port=wiring.monitor_ports[spec.name],
                               heap_mb=kafka.heap_mb(memory_mb), user=user)
        env = dict(self.base_env)
        env.pop("HOME", None)  # /root is not readable by the unprivileged user
        log_path = self.logs / f"{spec.name}.log"
        kafka.format_storage(plan, env, log_path)
        return self._handle(self._limited(ProcessSpec(
            name=spec.name, argv=plan.server_argv(), env=env, cwd=root, log_path=log_path,
            cpus=self.cpus, user=user, stop_timeout=INFRA_STOP_TIMEOUT,
            discard_signal=signal.SIGKILL,  # its data is deleted next: no controlled shutdown
        ), cpus, memory_mb))

    def _postgres(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """A fresh cluster (initdb now), as an unprivileged user when we are root."""
        user = infra.postgres_user()
        bindir = infra.accessible_bindir(infra.find_postgres_bindir(), user)
        if user is not None:
            os.chmod(self.root, 0o711)  # let the postgres user reach its data dir below
        parent = infra.data_parent(self.root, user)
        if parent == self.root:
            pg_root = self.root / spec.name
        else:
            pg_root = Path(tempfile.mkdtemp(prefix="archbench-pg-", dir=parent))
            claim_directory(pg_root)
            self.extra_dirs.append(pg_root)
        plan = infra.PostgresPlan(bindir=bindir, root=pg_root, port=wiring.ports[spec.name],
                                  password=self.settings.db_password, user=user)
        env = dict(self.base_env, LC_ALL="C")
        env.pop("HOME", None)  # /root is not readable by the postgres user
        log_path = self.logs / f"{spec.name}.log"
        infra.init_postgres(plan, env, log_path)
        return self._handle(self._limited(ProcessSpec(
            name=spec.name, argv=plan.server_argv(), env=env, cwd=pg_root, log_path=log_path,
            cpus=self.cpus, user=user,
            stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, checkpoint, exit
            # Teardown deletes the data dir: immediate shutdown skips a checkpoint (seconds with fsync).
            discard_signal=signal.SIGQUIT,
            stop_timeout=INFRA_STOP_TIMEOUT,
            signal_group=False,  # only the postmaster: it stops its own backends
        ), cpus, memory_mb), postgres_data=plan.data)

    def teardown(self, handles: list[InstanceHandle]) -> list[str]:
        # A start interrupted by Ctrl-C may still be forking: let it finish so its process is known.
        self.spawner.submit(lambda: None).result()
        problems = []
        for handle in handles:
            assert isinstance(handle, ProcessHandle)
            try:
                handle.discard()
            except Exception as error:  # noqa: BLE001 -- keep stopping the others
                problems.append(f"{handle.name}: {error}")
        self.spawner.shutdown(wait=True)
        return problems

    def close(self) -> None:
        for groups in self.groups:
            groups.remove()
        for directory in (self.root, *self.extra_dirs):
            shutil.rmtree(directory, ignore_errors=True)


def _limits_support(limits: str) -> CgroupSupport | None:
    """The cgroups to enforce limits with, None when only reporting them; BenchError for "enforce"
    on a host that cannot."""
    if limits == "report":
        return None
    support = detect()
    if support.enforces_cpu and support.enforces_memory:
        reap_stale_cgroups(support)
        return support
    if limits == "enforce":
        raise BenchError(
            f"cpu.limits = \"enforce\" but the local backend cannot enforce CPU and memory limits "
            f"here ({support.describe()}); run as root on a host with cgroups, use the docker "
            "backend (--backend docker), or set cpu.limits = \"auto\" to only report them"
        )
    return None


class LocalBackend(LifecycleBackend):
    """Processes on this machine; PostgreSQL and NATS from system binaries or registry packages."""

    name = "local"

    def __init__(self, *, log_dir: Path | None = None) -> None:
        # log_dir: keep each deployment's logs in log_dir/<target>/ instead of deleting them.
        self.log_dir = log_dir

    def available(self) -> tuple[bool, str]:
        """Whether PostgreSQL and nats-server binaries are found here, and where."""
        try:
            bindir = infra.find_postgres_bindir()
            nats = infra.find_nats_server()
        except BenchError as error:
            return False, str(error)
        return True, f"PostgreSQL from {bindir}, nats-server {nats}"

    def prepare(self, topology: Topology) -> None:
        """Refuse a Kafka topology before anything starts when Java or the broker's jars are missing."""
        if any(spec.kind == "kafka" for spec in topology.infra):
            kafka.find_java()
            kafka.find_kafka_jars()

    def launcher(self, topology: Topology, settings: DeploySettings) -> Launcher:
        return _LocalLauncher(topology, settings, self.log_dir)
