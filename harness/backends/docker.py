"""The ``docker`` backend: every service and piece of infrastructure in its own container.

``DockerBackend(config.docker).up(topology, settings)`` reaps containers of dead
runs, builds the targets image when its sources changed (``_docker_image``),
allocates loopback ports exactly like the local backend (``Wiring``), starts
PostgreSQL / NATS from the images named in bench.toml ``[docker]``, then each
service (``python -m MODULE``) in dependency order, waiting for each to be
healthy, and yields a ``DockerDeployment``. Leaving the ``with`` block, for any
reason, removes every container labelled with the run id.

Every container: ``network_mode=host`` (no bridge, no published ports; services
bind 127.0.0.1), ``nano_cpus`` / ``mem_limit`` from the topology and overrides,
``cpuset_cpus`` = ``settings.target_cpus``, and labels ``archbench.run``,
``archbench.target``, ``archbench.instance``, ``archbench.role`` and
``archbench.owner`` (``pid:start_time@host`` of the harness, so that a later
run can tell a crashed run's leftovers from a live run's containers).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import psutil

from harness.backends import _local_infra as infra
from harness.backends._docker_image import ensure_targets_image, image_status
from harness.backends._docker_stats import ENGINE_ERRORS, StatsSampler
from harness.backends._process import check_cpuset
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
from harness.backends.local import _signals_deferred
from harness.config import DockerConfig
from harness.errors import BenchError
from harness.topology import InfraSpec, Topology

LABEL_RUN = "archbench.run"
LABEL_OWNER = "archbench.owner"
LABEL_TARGET = "archbench.target"
LABEL_INSTANCE = "archbench.instance"
LABEL_ROLE = "archbench.role"
LABEL_DEPLOYMENT = "archbench.deployment"  # unique per up(): two runs may share a run id
SETUP_HINT = "bash .ci/docker-setup.sh"  # builds stand-in images where no registry answers


def _docker_client(timeout: float = 60.0) -> Any:
    """A Docker SDK client from the environment (DOCKER_HOST or the local socket)."""
    from docker.client import DockerClient

    return DockerClient.from_env(timeout=int(timeout))


# -- ownership labels, reaping -------------------------------------------------------------


def owner_label() -> str:
    """``pid:start_time@host`` of this process (start time in whole seconds since the epoch)."""
    me = psutil.Process()
    return f"{me.pid}:{int(me.create_time())}@{socket.gethostname()}"


def owner_alive(label: str) -> bool:
    """Whether the process named by an owner label still runs (unknown format or host: True)."""
    match = re.fullmatch(r"(\d+):(\d+)@(.*)", label or "")
    if match is None or match.group(3) != socket.gethostname():
        return True  # cannot judge: leave it to `bench down`
    pid, started = int(match.group(1)), int(match.group(2))
    try:
        return int(psutil.Process(pid).create_time()) == started
    except psutil.Error:
        return False


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


# -- the deployment ------------------------------------------------------------------------


@dataclass
class DockerDeployment:
    """A running target in containers; satisfies ``harness.backends.base.Deployment``."""

    target: str
    url: str  # entry service, e.g. http://127.0.0.1:41234
    admin_username: str
    admin_password: str
    instances: list[Instance]
    service_urls: dict[str, str]  # every instance -> its URL (no secrets)
    run_id: str
    deployment_id: str  # label archbench.deployment of every container of this deployment
    health_timeout: float  # seconds
    startup_seconds: dict[str, float] = field(
        default_factory=dict
    )  # name -> s from up() to healthy
    containers: dict[str, Any] = field(default_factory=dict, repr=False)  # name -> Container
    _checks: dict[str, Callable[[], bool]] = field(default_factory=dict, repr=False)
    _sampler: StatsSampler | None = field(default=None, repr=False)

    def read_resources(self) -> list[ResourceReading]:
        """One reading per instance: cumulative CPU seconds and memory in use, from Docker stats."""
        assert self._sampler is not None
        return self._sampler.readings(
            [(i.name, self.containers[i.name].id) for i in self.instances]
        )

    def logs(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of instance ``name``'s output (stdout and stderr)."""
        try:
            raw = self._container(name).logs(tail=lines)
        except docker.errors.NotFound:
            return ""
        return bytes(raw).decode("utf-8", errors="replace")

    def stop_service(self, name: str, timeout: float | None = None) -> None:
        """Stop instance ``name`` (SIGTERM, SIGKILL after ``timeout`` seconds, default 10)."""
        self._container(name).stop(timeout=int(timeout if timeout is not None else 10))

    def kill_service(self, name: str) -> None:
        """SIGKILL instance ``name`` (a crash, not a shutdown)."""
        self._container(name).kill()

    def start_service(self, name: str) -> float:
        """(Re)start instance ``name`` with its original ports and environment; wait until healthy.

        Returns the seconds it took to become healthy; raises BenchError like ``up``.
        """
        started = time.monotonic()
        container = self._container(name)
        container.start()
        _wait_healthy(container, name, self._checks[name], self.health_timeout)
        if self._sampler is not None:
            self._sampler.watch(name, container.id)
        return time.monotonic() - started

    def _container(self, name: str) -> Any:
        try:
            return self.containers[name]
        except KeyError:
            choices = ", ".join(self.containers)
            raise BenchError(
                f"{self.target} has no instance {name!r}; instances: {choices}"
            ) from None


# -- the backend ---------------------------------------------------------------------------


class DockerBackend:
    """Containers on a Docker engine, one per service and per piece of infrastructure."""

    name = "docker"

    def __init__(self, config: DockerConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.config = config or DockerConfig()
        self.progress = progress or (lambda message: print(message, file=sys.stderr))
        self.last_build_seconds: float | None = None  # time the last up() spent building

    @classmethod
    def from_config(cls, config: Any) -> DockerBackend:
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

    def prepare(self, client: Any | None = None) -> float:
        """Build the targets image if its sources changed; seconds spent building (0 if cached)."""
        client = client or _docker_client()
        built, seconds = ensure_targets_image(
            client, self.config.image_tag, self.config.python_image,
            self.config.build_timeout, self.progress,
        )  # fmt: skip
        if built:
            self.progress(f"docker: built {self.config.image_tag} in {seconds:.1f}s")
        self.last_build_seconds = seconds
        return seconds

    @contextlib.contextmanager
    def up(self, topology: Topology, settings: DeploySettings) -> Iterator[DockerDeployment]:
        """Start ``topology`` in containers; yield once all are healthy; always remove them."""
        begun = time.monotonic()
        if settings.target_cpus.strip():
            check_cpuset(settings.target_cpus)
        client = _docker_client(timeout=max(60.0, self.config.build_timeout))
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
        self.prepare(client)
        wiring = Wiring.allocate(topology, settings)
        deployment = DockerDeployment(
            target=topology.target,
            url=wiring.url(f"service:{topology.entry}"),
            admin_username=settings.admin_username,
            admin_password=settings.admin_password,
            instances=[],
            service_urls={},
            run_id=settings.run_id,
            deployment_id=secrets.token_hex(4),
            health_timeout=settings.health_timeout,
            _sampler=StatsSampler(client),
        )
        labels = {
            LABEL_RUN: settings.run_id,
            LABEL_OWNER: owner_label(),
            LABEL_TARGET: topology.target,
            LABEL_DEPLOYMENT: deployment.deployment_id,
        }
        try:
            for spec in topology.infra:
                self._start_infra(client, deployment, spec, wiring, settings, labels)
                deployment.startup_seconds[spec.name] = time.monotonic() - begun
            for service in topology.start_order():
                cpus, memory_mb, workers = resolve_service(service, settings)
                url = wiring.url(f"service:{service.name}")
                environment = service_environment(service, wiring, settings, workers)
                environment["PYTHONUNBUFFERED"] = "1"
                health_url = url + service.health_path

                def check(health_url: str = health_url) -> bool:
                    return infra.http_ok(health_url)

                self._run(client, deployment, service.name, "service", settings, labels,
                          image=self.config.image_tag, command=["python", "-m", service.module],
                          environment=environment, cpus=cpus, memory_mb=memory_mb,
                          check=check)  # fmt: skip
                deployment.service_urls[service.name] = url
                deployment.instances.append(
                    Instance(service.name, "service", cpus, memory_mb, workers, url)
                )
                deployment.startup_seconds[service.name] = time.monotonic() - begun
            deployment.startup_seconds["total"] = time.monotonic() - begun
            yield deployment
        finally:
            with _signals_deferred():
                try:
                    found = client.containers.list(
                        all=True,
                        filters={"label": f"{LABEL_DEPLOYMENT}={deployment.deployment_id}"},
                    )
                    _remove(found)
                except ENGINE_ERRORS as error:  # the engine went away: `bench down` cleans up later
                    print(f"archbench: docker teardown of run {settings.run_id} failed: {error}; "
                          "run `bench down`", file=sys.stderr)  # fmt: skip

    def _start_infra(
        self,
        client: Any,
        deployment: DockerDeployment,
        spec: InfraSpec,
        wiring: Wiring,
        settings: DeploySettings,
        labels: dict[str, str],
    ) -> None:
        cpus, memory_mb = resolve_infra(spec, settings)
        port = wiring.ports[spec.name]
        if spec.kind == "postgres":
            databases = spec.databases
            environment = {
                "POSTGRES_USER": wiring.db_user,
                "POSTGRES_PASSWORD": wiring.db_password,
                "POSTGRES_DB": databases[0] if databases else wiring.db_user,
                # as the local backend: a throwaway cluster, C locale (the health check
                # creates the other databases over a connection, like the local backend)
                "POSTGRES_INITDB_ARGS": "--no-sync --locale=C",
            }
            command = ["-p", str(port), "-c", f"listen_addresses={LOOPBACK}",
                       "-c", "max_connections=300"]  # fmt: skip
            password = wiring.db_password

            def check() -> bool:
                return _in_thread(lambda: infra.postgres_ready(port, password, databases))

            image, url = self.config.postgres_image, f"postgresql://{LOOPBACK}:{port}"
            extra: dict[str, Any] = {"shm_size": "256m"}
        else:
            monitor_port = free_port()
            while monitor_port in wiring.ports.values():
                monitor_port = free_port()
            command = ["-js", "-a", LOOPBACK, "-p", str(port), "-m", str(monitor_port),
                       "-sd", "/data"]  # fmt: skip
            environment = {}
            health_url = f"http://{LOOPBACK}:{monitor_port}/healthz"

            def check() -> bool:
                return infra.http_ok(health_url)

            image, url, extra = self.config.nats_image, f"nats://{LOOPBACK}:{port}", {}
        self._run(client, deployment, spec.name, "infra", settings, labels, image=image,
                  command=command, environment=environment, cpus=cpus, memory_mb=memory_mb,
                  check=check, **extra)  # fmt: skip
        deployment.service_urls[spec.name] = url
        deployment.instances.append(Instance(spec.name, "infra", cpus, memory_mb, 1, url))

    def _run(
        self,
        client: Any,
        deployment: DockerDeployment,
        name: str,
        role: str,
        settings: DeploySettings,
        labels: dict[str, str],
        *,
        image: str,
        command: list[str],
        environment: dict[str, str],
        cpus: float,
        memory_mb: int,
        check: Callable[[], bool],
        **extra: Any,
    ) -> None:
        """Create and start one container, register it, wait until ``check`` passes."""
        container_name = _container_name(
            settings.run_id, deployment.target, name, deployment.deployment_id
        )
        try:
            container = client.containers.run(
                image,
                command=command,
                name=container_name,
                environment=environment,
                labels={**labels, LABEL_INSTANCE: name, LABEL_ROLE: role},
                network_mode="host",
                nano_cpus=int(cpus * 1e9),
                mem_limit=f"{memory_mb}m",
                cpuset_cpus=settings.target_cpus.strip() or None,
                detach=True,
                **extra,
            )
        except docker.errors.DockerException as error:
            raise BenchError(
                f"{container_name}: could not start a container from {image}: {error}"
            ) from None
        deployment.containers[name] = container
        deployment._checks[name] = check
        _wait_healthy(container, name, check, settings.health_timeout)
        assert deployment._sampler is not None
        deployment._sampler.watch(name, container.id)


# -- helpers -------------------------------------------------------------------------------


def _wait_healthy(container: Any, name: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` until it passes; BenchError naming the container and its last log lines."""

    def running() -> bool:
        container.reload()
        return container.status in ("created", "running", "restarting")

    outcome = infra.wait_until(check, time.monotonic() + timeout, running)
    if not outcome:
        return
    if outcome == "exited":
        code = container.attrs.get("State", {}).get("ExitCode")
        what = f"exited with code {code} before it was healthy"
    else:
        what = f"not healthy after {timeout:g}s (run.health_timeout)"
    log = bytes(container.logs(tail=30)).decode("utf-8", errors="replace").rstrip() or "(no output)"
    raise BenchError(f"container {container.name} ({name}): {what}; last lines of its log:\n{log}")


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
    images = {"postgres": config.postgres_image, "nats": config.nats_image}
    return [images[kind] for kind in sorted(kinds)]


def _in_thread(function: Callable[[], bool]) -> bool:
    """Run ``function`` in a worker thread: it may call asyncio.run while the caller's loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()
