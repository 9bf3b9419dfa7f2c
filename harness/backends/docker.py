"""The ``docker`` backend: every service and piece of infrastructure in its own container.

``DockerBackend(config.docker).up(topology, settings)`` reaps containers of dead
runs, builds the targets image when its sources changed (``_docker_image``),
allocates loopback ports exactly like the local backend (``Wiring``), starts
PostgreSQL / NATS from the images named in bench.toml ``[docker]``, then each
service (``python -m MODULE``) in dependency order, waiting for each to be
healthy (the sequence is ``lifecycle.LifecycleBackend``'s), and yields the
deployment. Leaving the ``with`` block, for any reason, removes every container
labelled with the deployment id.

Every container: ``network_mode=host`` (no bridge, no published ports; services
bind 127.0.0.1), ``nano_cpus`` / ``mem_limit`` from the topology and overrides,
``cpuset_cpus`` = ``settings.target_cpus``, and labels ``archbench.run``,
``archbench.target``, ``archbench.instance``, ``archbench.role`` and
``archbench.owner`` (the harness's owner token, ``ownership``, so that a later
run can tell a crashed run's leftovers from a live run's containers).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker.errors
import psutil

from harness.backends._docker_image import SOURCE_DIR, ensure_targets_image, image_status
from harness.backends._docker_stats import ENGINE_ERRORS, StatsSampler
from harness.backends.base import LOOPBACK, DeploySettings, ResourceReading, Wiring
from harness.backends.lifecycle import InstanceHandle, Launcher, LifecycleBackend
from harness.backends.ownership import owner_alive, owner_token
from harness.config import Config, DockerConfig
from harness.errors import BenchError
from harness.hostinfo import docker_socket_reachable
from harness.topology import InfraSpec, ServiceSpec, Topology

LABEL_RUN = "archbench.run"
LABEL_OWNER = "archbench.owner"
LABEL_TARGET = "archbench.target"
LABEL_INSTANCE = "archbench.instance"
LABEL_ROLE = "archbench.role"
LABEL_DEPLOYMENT = "archbench.deployment"  # unique per up(): two runs may share a run id
SETUP_HINT = "bash .ci/docker-setup.sh"  # builds stand-in images where no registry answers


def _docker_client(timeout: float = 60.0) -> Any:
    """A Docker SDK client from the environment (DOCKER_HOST or the local socket).

    The socket is probed first (``hostinfo.docker_socket_reachable``): the SDK leaks the
    socket of a failed connect, so without an engine it is never asked.
    """
    from docker.client import DockerClient

    if not docker_socket_reachable():
        raise docker.errors.DockerException("the Docker engine's socket refuses connections")
    return DockerClient.from_env(timeout=int(timeout))


# -- ownership labels, reaping -------------------------------------------------------------


def owner_label() -> str:
    """The owner token of this process (``ownership.owner_token``), as container label."""
    return owner_token()


def _remove(containers: list[Any]) -> list[str]:
    """Force-remove ``containers`` in parallel; the names removed."""

    def remove(container: Any) -> str:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
        return str(container.name)

    if not containers:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
        return list(pool.map(remove, containers))


def remove_run(client: Any, run_id: str) -> list[str]:
    """Remove every container labelled with ``run_id``; the names removed."""
    found = client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})
    return _remove(found)


def reap_stale(client: Any) -> list[str]:
    """Remove containers of runs whose owning harness process is dead; the names removed."""
    found = client.containers.list(all=True, filters={"label": LABEL_RUN})
    return _remove([c for c in found if not owner_alive(c.labels.get(LABEL_OWNER, ""))])


def down_all(client: Any | None = None) -> list[str]:
    """Remove every archbench container, live run or not (``bench down``); the names removed."""
    client = client or _docker_client()
    return _remove(client.containers.list(all=True, filters={"label": LABEL_RUN}))


# -- one container -------------------------------------------------------------------------


@dataclass
class ContainerHandle:
    """One container of a docker deployment (an ``InstanceHandle``); created on first start."""

    name: str  # instance name
    label: str  # "container NAME (instance)", for messages
    create: Callable[[], Any]  # makes and starts the container
    sampler: StatsSampler
    container: Any | None = None
    log_hint: str = ""

    def start(self) -> None:
        if self.container is None:
            self.container = self.create()
        else:
            self.container.start()
        self.sampler.watch(self.name, self.container.id)

    def running(self) -> bool:
        if self.container is None:
            return False
        self.container.reload()
        return self.container.status in ("created", "running", "restarting", "paused")

    def exit_code(self) -> int | None:
        if self.container is None or self.running():
            return None
        return self.container.attrs.get("State", {}).get("ExitCode")

    def logs(self, lines: int) -> str:
        if self.container is None:
            return ""
        try:
            return bytes(self.container.logs(tail=lines)).decode("utf-8", errors="replace")
        except docker.errors.NotFound:
            return ""

    def pids(self) -> list[int]:
        if not self.running():
            return []
        assert self.container is not None
        leader = int(self.container.attrs.get("State", {}).get("Pid") or 0)
        try:
            process = psutil.Process(leader)
            return [leader, *(child.pid for child in process.children(recursive=True))]
        except psutil.Error:
            return []

    def stop(self, timeout: float | None) -> None:
        self._live().stop(timeout=int(timeout if timeout is not None else 10))

    def kill(self) -> None:
        with contextlib.suppress(docker.errors.APIError):  # already exited
            self._live().kill()
        self._live().wait(timeout=30)

    def pause(self) -> None:
        self._live().pause()

    def resume(self) -> None:
        with contextlib.suppress(docker.errors.APIError):  # not paused
            self._live().unpause()

    def read_resources(self) -> ResourceReading:
        return self.sampler.readings([(self.name, self._live().id)])[0]

    def _live(self) -> Any:
        if self.container is None:
            raise BenchError(f"{self.label} was never started")
        return self.container


class _DockerLauncher(Launcher):
    """Containers of one docker deployment, all labelled with its run and deployment ids."""

    def __init__(self, client: Any, config: DockerConfig, topology: Topology,
                 settings: DeploySettings) -> None:  # fmt: skip
        self.client = client
        self.config = config
        self.settings = settings
        self.target = topology.target
        self.deployment_id = secrets.token_hex(4)
        self.sampler = StatsSampler(client)
        self.limits_enforced = settings.limits != "report"  # the engine enforces what it is given
        self.labels = {
            LABEL_RUN: settings.run_id,
            LABEL_OWNER: owner_label(),
            LABEL_TARGET: topology.target,
            LABEL_DEPLOYMENT: self.deployment_id,
        }

    def service(
        self, spec: ServiceSpec, instance: str, environment: dict[str, str], cpus: float,
        memory_mb: int,
    ) -> InstanceHandle:
        # a command (e.g. the Express monolith's start.sh) runs from the project root, as locally
        workdir = {"working_dir": SOURCE_DIR} if spec.command else {}
        return self._handle(instance, "service", image=self.config.image_tag,
                            command=spec.argv("python"), environment=environment,
                            cpus=cpus, memory_mb=memory_mb, **workdir)  # fmt: skip

    def infra(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """One infrastructure piece: each kind has its own method (``_postgres``, ``_nats``, ...)."""
        starters = {"postgres": self._postgres, "nats": self._nats, "redis": self._redis,
                    "kafka": self._kafka}
        return starters[spec.kind](spec, wiring, cpus, memory_mb)

    def _postgres(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        port = wiring.ports[spec.name]
        environment = {
            "POSTGRES_USER": wiring.db_user,
            "POSTGRES_PASSWORD": wiring.db_password,
            "POSTGRES_DB": spec.databases[0] if spec.databases else wiring.db_user,
            # as the local backend: a throwaway cluster, C locale (the health check
            # creates the other databases over a connection, like the local backend)
            "POSTGRES_INITDB_ARGS": "--no-sync --locale=C",
        }
        command = ["-p", str(port), "-c", f"listen_addresses={LOOPBACK}",
                   "-c", "max_connections=300"]  # fmt: skip
        return self._handle(spec.name, "infra", image=self.config.postgres_image,
                            command=command, environment=environment, cpus=cpus,
                            memory_mb=memory_mb, shm_size="256m")  # fmt: skip

    def _nats(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        port = wiring.ports[spec.name]
        command = ["-js", "-a", LOOPBACK, "-p", str(port), "-m",
                   str(wiring.monitor_ports[spec.name]), "-sd", "/data"]  # fmt: skip
        return self._handle(spec.name, "infra", image=self.config.nats_image, command=command,
                            environment={}, cpus=cpus, memory_mb=memory_mb)  # fmt: skip

    def _redis(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        command = ["--bind", LOOPBACK, "--port", str(wiring.ports[spec.name]), "--save", "",
                   "--appendonly", "no", "--maxmemory", f"{max(8, memory_mb * 8 // 10)}mb",
                   "--maxmemory-policy", "volatile-lru"]  # fmt: skip
        return self._handle(spec.name, "infra", image=self.config.redis_image, command=command,
                            environment={}, cpus=cpus, memory_mb=memory_mb)  # fmt: skip

    def _kafka(self, spec: InfraSpec, wiring: Wiring, cpus: float, memory_mb: int) -> InstanceHandle:
        """The official image's interface: KAFKA_* variables (``_kafka.container_environment``)."""
        from harness.backends._kafka import container_environment, heap_mb, kafka_image

        environment = container_environment(wiring.ports[spec.name],
                                            wiring.monitor_ports[spec.name], heap_mb(memory_mb))
        return self._handle(spec.name, "infra", image=kafka_image(), command=[],
                            environment=environment, cpus=cpus, memory_mb=memory_mb)  # fmt: skip

    def _handle(self, name: str, role: str, *, image: str, command: list[str],
                environment: dict[str, str], cpus: float, memory_mb: int,
                **extra: Any) -> ContainerHandle:  # fmt: skip
        container_name = _container_name(self.settings.run_id, self.target, name, self.deployment_id)

        def create() -> Any:
            try:
                return self.client.containers.run(
                    image, command=command, name=container_name, environment=environment,
                    labels={**self.labels, LABEL_INSTANCE: name, LABEL_ROLE: role},
                    network_mode="host", **self._limits(cpus, memory_mb),
                    cpuset_cpus=self.settings.target_cpus.strip() or None, detach=True, **extra,
                )  # fmt: skip
            except docker.errors.DockerException as error:
                raise BenchError(
                    f"{container_name}: could not start a container from {image}: {error}"
                ) from None

        return ContainerHandle(name, f"container {container_name} ({name})", create, self.sampler)

    def _limits(self, cpus: float, memory_mb: int) -> dict[str, Any]:
        if not self.limits_enforced:
            return {}
        return {"nano_cpus": int(cpus * 1e9), "mem_limit": f"{memory_mb}m"}

    def read_all(self, handles: list[InstanceHandle]) -> list[ResourceReading]:
        """One reading per container, waiting for fresh stats of all of them at once."""
        pairs = [(h.name, h._live().id) for h in handles if isinstance(h, ContainerHandle)]
        return self.sampler.readings(pairs)

    def teardown(self, handles: list[InstanceHandle]) -> list[str]:
        """Remove every container of this deployment at once (also ones a crash left unknown)."""
        try:
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_DEPLOYMENT}={self.deployment_id}"}
            )
            _remove(found)
        except ENGINE_ERRORS as error:  # the engine went away: `bench down` cleans up later
            return [f"docker teardown of run {self.settings.run_id} failed: {error}; run `bench down`"]
        return []


# -- the backend ---------------------------------------------------------------------------


class DockerBackend(LifecycleBackend):
    """Containers on a Docker engine, one per service and per piece of infrastructure."""

    name = "docker"

    def __init__(self, config: DockerConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.config = config or DockerConfig()
        self.progress = progress or (lambda message: print(message, file=sys.stderr))
        self._client: Any | None = None

    @classmethod
    def from_config(cls, config: Config) -> DockerBackend:
        """The backend as the registry builds it: images and build timeout from ``[docker]``."""
        return cls(config.docker)

    def available(self) -> tuple[bool, str]:
        """Whether an engine answers and every image is present (or the targets image buildable)."""
        try:
            client = _docker_client(timeout=5)
            version = client.version().get("Version", "?")
        except ENGINE_ERRORS as error:
            return False, (
                f"no Docker engine answers ({type(error).__name__}: {str(error)[:200]}); start "
                f"one (`dockerd`; without one installed: `{SETUP_HINT}`)"
            )
        missing = [image for image in (self.config.postgres_image, self.config.nats_image)
                   if not _image_present(client, image)]  # fmt: skip
        status = image_status(client, self.config.image_tag, self.config.python_image)
        if not status.current and not status.base_present:
            missing.append(self.config.python_image)
        if missing:
            pulls = "; ".join(f"docker pull {image}" for image in missing)
            return False, (
                f"engine {version} answers but image(s) {', '.join(missing)} are not present: "
                f"{pulls} (no registry reachable: `{SETUP_HINT}` builds stand-ins)"
            )
        targets = "current" if status.current else f"to be built from {self.config.python_image}"
        return True, (
            f"engine {version}; images {self.config.postgres_image}, {self.config.nats_image}; "
            f"{self.config.image_tag} {targets}"
        )

    def build_image(self, client: Any | None = None) -> float:
        """Build the targets image if its sources changed; seconds spent building (0 if cached)."""
        client = client or _docker_client()
        built, seconds = ensure_targets_image(
            client, self.config.image_tag, self.config.python_image,
            self.config.build_timeout, self.progress,
        )  # fmt: skip
        if built:
            self.progress(f"docker: built {self.config.image_tag} in {seconds:.1f}s")
        return seconds

    def prepare(self, topology: Topology) -> None:
        """Reap containers of dead runs, check the infrastructure images, build the targets image."""
        client = _docker_client(timeout=max(60.0, self.config.build_timeout))
        self._client = client
        reaped = reap_stale(client)
        if reaped:
            self.progress(
                f"docker: removed {len(reaped)} container(s) of dead runs: {', '.join(reaped)}"
            )
        for image in _infra_images(topology, self.config):
            if not _image_present(client, image):
                raise BenchError(
                    f"docker: image {image!r} is not present; `docker pull {image}` "
                    f"(no registry reachable: `{SETUP_HINT}`), or change [docker] in bench.toml"
                )
        self.build_image(client)

    def launcher(self, topology: Topology, settings: DeploySettings) -> Launcher:
        client = self._client or _docker_client(timeout=max(60.0, self.config.build_timeout))
        return _DockerLauncher(client, self.config, topology, settings)


# -- helpers -------------------------------------------------------------------------------


def _container_name(run_id: str, target: str, name: str, unique: str = "") -> str:
    """``archbench-RUN-TARGET-NAME[-UNIQUE]`` with characters Docker refuses replaced by "-"."""
    text = f"archbench-{run_id}-{target}-{name}" + (f"-{unique}" if unique else "")
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)[:200]


def _image_present(client: Any, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def _infra_images(topology: Topology, config: DockerConfig) -> list[str]:
    kinds = {spec.kind for spec in topology.infra}
    images = {"postgres": config.postgres_image, "nats": config.nats_image,
              "redis": config.redis_image}
    if "kafka" in kinds:  # its tag follows the broker's pom.xml (one version, one place)
        from harness.backends._kafka import kafka_image

        images["kafka"] = kafka_image()
    return [images[kind] for kind in sorted(kinds)]
