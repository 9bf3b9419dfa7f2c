"""The docker backend end to end, on a real engine with real images.

Skips only when no Docker engine answers and ``BENCH_REQUIRE_DOCKER`` is unset;
with the variable set, a missing engine is a failure. An engine without the
images is a failure too (``bash .ci/docker-setup.sh`` builds stand-ins).

- the contract suite (``harness.contract.run_contract``) against the three targets,
  express-monolith and event-driven-kafka in containers, one test per check, each
  target started once;
- what each container looks like (host network, limits, CPU set, labels), that
  resource readings come from the stats API, and that teardown removes them;
- a service that cannot start fails with its container's name and log lines;
- reaping of dead runs' containers and ``bench down --run``;
- ``bench run --backend docker --profile smoke`` on all three targets with integrity
  ok, and Ctrl-C mid-load: no container of the run remains, partial results written.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import BENCH

from harness.backends.base import DeploySettings, ResourceReading
from harness.backends.docker import (
    ENGINE_ERRORS,
    LABEL_INSTANCE,
    LABEL_OWNER,
    LABEL_RUN,
    LABEL_TARGET,
    DockerBackend,
    _docker_client,
    owner_label,
    reap_stale,
)
from harness.cli import cli
from harness.config import load_config
from harness.contract import CHECK_NAMES, CheckResult, run_contract
from harness.errors import BenchError
from harness.measure import live_samples_pattern
from harness.registry import get_topology
from harness.results import load_results, schema_problems
from harness.topology import ServiceSpec, Topology

TARGETS = ("monolith", "microservices", "event-driven")
# the contract in containers runs on these too (each adds < 60 s): the Express monolith (Node.js
# in the targets image, run from its project root) and the Kafka variant (apache/kafka stand-in)
CONTRACT_TARGETS = (*TARGETS, "express-monolith", "event-driven-kafka")

pytestmark = [pytest.mark.needs_docker, pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(600)]


def _target_cpus() -> str:
    """The last usable CPU: the containers' cpuset (the generator keeps the first)."""
    return str(max(os.sched_getaffinity(0)))


# docker_client (the engine, or the skip/fail rule of BENCH_REQUIRE_DOCKER): tests/conftest.py


@pytest.fixture(scope="session")
def backend(docker_client: Any) -> DockerBackend:
    backend = DockerBackend(load_config().docker)
    available, reason = backend.available()
    assert available, f"the docker backend cannot run here: {reason}"
    return backend


def _run_labelled(client: Any) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": LABEL_RUN}))


@dataclass(frozen=True)
class DockerRun:
    """What one target in containers looked like, and what the contract found."""

    target: str
    run_id: str
    results: dict[str, CheckResult]
    containers: dict[str, dict[str, Any]]  # instance -> inspect attrs while running
    instances: dict[str, tuple[float, int]]  # instance -> (cpus, memory MiB)
    readings: list[list[ResourceReading]]  # two read_resources() calls, ~1 s apart
    left_after_teardown: list[str]  # container names with the run label after `up` exited
    logs: str


@pytest.fixture(scope="session", params=CONTRACT_TARGETS)
def docker_run(
    request: pytest.FixtureRequest,
    backend: DockerBackend,
    docker_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DockerRun]:
    target: str = request.param
    settings = DeploySettings(
        run_id=f"test-docker-{target}-{secrets.token_hex(3)}",
        workdir=tmp_path_factory.mktemp(f"docker-{target}"),
        target_cpus=_target_cpus(),
        workers=2,  # several worker processes: start-up race safety is part of the contract
    )
    with backend.up(get_topology(target), settings) as deployment:
        results = run_contract(
            deployment.url,
            deployment.admin_username,
            deployment.admin_password,
            token_secret=settings.token_secret,
        )
        containers = {
            c.labels[LABEL_INSTANCE]: c.attrs
            for c in docker_client.containers.list(
                all=True, filters={"label": f"{LABEL_RUN}={settings.run_id}"}
            )
        }
        first = deployment.read_resources()
        second = deployment.read_resources()
        logs = "\n".join(
            f"--- {instance.name}\n{deployment.logs(instance.name, 15)}"
            for instance in deployment.instances
        )
        instances = {i.name: (i.cpus, i.memory_mb) for i in deployment.instances}
    left = [
        c.name
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN}={settings.run_id}"}
        )
    ]
    yield DockerRun(
        target,
        settings.run_id,
        {result.name: result for result in results},
        containers,
        instances,
        [first, second],
        left,
        logs,
    )


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_contract_in_containers(docker_run: DockerRun, check: str) -> None:
    result = docker_run.results.get(check)
    assert result is not None, f"{check} did not run against {docker_run.target}"
    assert result.ok, f"{docker_run.target}: {result.detail}\n{docker_run.logs}"


def test_every_container_has_host_network_limits_cpuset_and_labels(docker_run: DockerRun) -> None:
    topology = get_topology(docker_run.target)
    expected = {s.name for s in topology.services} | {i.name for i in topology.infra}
    assert set(docker_run.containers) == expected
    for name, attrs in docker_run.containers.items():
        host = attrs["HostConfig"]
        cpus, memory_mb = docker_run.instances[name]
        assert host["NetworkMode"] == "host", name
        assert host["NanoCpus"] == int(cpus * 1e9), name
        assert host["Memory"] == memory_mb * 2**20, name
        assert host["CpusetCpus"] == _target_cpus(), name
        labels = attrs["Config"]["Labels"]
        assert labels[LABEL_RUN] == docker_run.run_id
        assert labels[LABEL_TARGET] == docker_run.target
        assert labels[LABEL_INSTANCE] == name
        assert labels[LABEL_OWNER] == owner_label()


def test_resource_readings_come_from_the_stats_api(docker_run: DockerRun) -> None:
    first, second = docker_run.readings
    assert [r.name for r in first] == list(docker_run.instances)
    for before, after in zip(first, second, strict=True):
        assert after.time > before.time, f"{after.name}: the same reading was handed out twice"
        assert after.cpu_seconds >= before.cpu_seconds > 0, after
        assert after.rss_bytes > 0, after
    # the contract suite made the database work (microservices: the busiest of its servers)
    servers = {i.name for i in get_topology(docker_run.target).infra if i.kind == "postgres"}
    postgres = max((r for r in second if r.name in servers), key=lambda r: r.cpu_seconds)
    assert postgres.cpu_seconds > 0.1


def test_teardown_removes_every_container_of_the_run(docker_run: DockerRun) -> None:
    assert docker_run.left_after_teardown == []


def test_a_service_that_cannot_start_names_its_container_and_log(
    backend: DockerBackend, docker_client: Any, tmp_path: Path
) -> None:
    broken = Topology(
        target="broken",
        description="a service whose module does not exist",
        services=(ServiceSpec(name="app", module="targets.no_such_module"),),
        entry="app",
        infra=(),
    )
    settings = DeploySettings(
        run_id=f"test-docker-broken-{secrets.token_hex(3)}", workdir=tmp_path, health_timeout=30
    )
    started = time.monotonic()
    with pytest.raises(BenchError) as caught, backend.up(broken, settings):
        pytest.fail("a service without a module came up")
    message = str(caught.value)
    assert f"archbench-{settings.run_id}-broken-app" in message
    assert "exited with code 1" in message
    assert "No module named targets.no_such_module" in message
    assert time.monotonic() - started < 30, "an exited container must not wait for the timeout"
    left = docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN}={settings.run_id}"}
    )
    assert left == []


def _sleeper(client: Any, run_id: str, owner: str) -> Any:
    """A labelled container that just sleeps, as a crashed run would have left it."""
    return client.containers.run(
        load_config().docker.python_image,
        command=["sleep", "300"],
        name=f"archbench-{run_id}",
        labels={LABEL_RUN: run_id, LABEL_OWNER: owner},
        network_mode="host",
        detach=True,
    )


def test_reap_stale_removes_dead_runs_and_keeps_live_ones(docker_client: Any) -> None:
    host = socket.gethostname()
    dead = _sleeper(docker_client, f"test-dead-{secrets.token_hex(3)}", f"999999999:1@{host}")
    live = _sleeper(docker_client, f"test-live-{secrets.token_hex(3)}", owner_label())
    try:
        reap_stale(docker_client)  # (a run starting meanwhile may reap it first: same outcome)
        names = {c.name for c in _run_labelled(docker_client)}
        assert dead.name not in names
        assert live.name in names
    finally:
        for container in (dead, live):
            try:
                container.remove(force=True)
            except ENGINE_ERRORS:
                pass


def test_bench_down_removes_a_runs_containers(docker_client: Any) -> None:
    # `--run`: plain `bench down` would also remove containers of runs going on in parallel
    run_id = f"test-down-{secrets.token_hex(3)}"
    container = _sleeper(docker_client, run_id, owner_label())
    try:
        result = CliRunner().invoke(cli, ["down", "--run", run_id])
        assert result.exit_code == 0, result.output
        assert container.name in result.output
        left = docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})
        assert left == []
        again = CliRunner().invoke(cli, ["down", "--run", run_id])
        assert "no archbench containers" in again.output
    finally:
        try:
            container.remove(force=True)
        except ENGINE_ERRORS:
            pass



def test_bench_run_smoke_on_the_docker_backend(backend: DockerBackend, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    done = subprocess.run(
        [*BENCH, "run", "monolith", "microservices", "event-driven", "--profile", "smoke",
         "--backend", "docker", "--duration", "8s", "--out", str(out)],
        capture_output=True, text=True, timeout=540, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    results = load_results(run_dir)
    assert schema_problems(results) == []
    assert results["host"]["docker"], results["host"]
    assert set(results["targets"]) == set(TARGETS)
    for name, target in results["targets"].items():
        assert target["backend"] == "docker", name
        assert target["summary"]["requests"] > 0, name
        assert target["integrity"]["ok"], (name, target["integrity"]["reasons"])
        assert target["integrity"]["lost"] == 0, name
        assert target["integrity"]["acknowledged"] > 0, name
        topology = get_topology(name)
        expected = {s.name for s in topology.services} | {i.name for i in topology.infra}
        sampled = {s["name"] for s in target["resources"]["services"]}
        assert sampled == expected, name
        assert all(s["cpu_seconds"] > 0 for s in target["resources"]["services"]), name
    left = _docker_client().containers.list(
        all=True, filters={"label": f"{LABEL_RUN}={run_dir.name}"}
    )
    assert left == []


def test_ctrl_c_mid_load_removes_the_runs_containers_and_keeps_partial_results(
    backend: DockerBackend, docker_client: Any, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    process = subprocess.Popen(
        [*BENCH, "run", "monolith", "--profile", "smoke", "--backend", "docker",
         "--duration", "60s", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        samples = None
        while time.monotonic() < deadline and samples is None:
            time.sleep(0.5)
            samples = next(iter(out.glob(live_samples_pattern("monolith", run="2*"))), None)
            assert process.poll() is None, process.communicate()
        assert samples is not None, "load never started"
        run_id = samples.relative_to(out).parts[0]  # the run directory's name is the run id
        running = docker_client.containers.list(filters={"label": f"{LABEL_RUN}={run_id}"})
        assert {c.labels[LABEL_INSTANCE] for c in running} == {"postgres", "app"}
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # the test failed early: still let it clean up
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    assert process.returncode == 130, stderr[-3000:]
    left = docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})
    assert left == [], [c.name for c in left]
    results = load_results(out / run_id)
    target = results["targets"]["monolith"]
    assert target["backend"] == "docker"
    assert not target["valid"]["ok"] and "interrupted" in target["valid"]["reasons"][0]
    assert target["summary"]["requests"] > 0
    assert results["finished_at"] is not None
    assert schema_problems(results) == []


def _bench_up(target: str) -> tuple[subprocess.Popen[str], list[Any], Any]:
    """Start ``bench up TARGET --backend docker``; return it once it printed its URL, and its containers."""
    process = subprocess.Popen(
        [*BENCH, "up", target, "--backend", "docker"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Press Ctrl-C" in line:
            break
    else:
        pytest.fail(f"bench up exited early: {process.communicate()}")
    client = _docker_client()
    mine = [
        c
        for c in client.containers.list(filters={"label": LABEL_OWNER})
        if c.labels[LABEL_OWNER].startswith(f"{process.pid}:")
    ]
    return process, mine, client


def test_sigterm_tears_the_containers_down(backend: DockerBackend) -> None:
    process, containers, client = _bench_up("monolith")
    assert {c.labels[LABEL_INSTANCE] for c in containers} == {"postgres", "app"}
    process.terminate()
    process.communicate(timeout=60)
    ids = {c.id for c in containers}
    assert not ids & {c.id for c in client.containers.list(all=True)}


def test_containers_of_a_sigkilled_harness_are_reaped_by_the_next_run(
    backend: DockerBackend,
) -> None:
    process, containers, client = _bench_up("monolith")
    assert containers
    process.kill()  # no teardown: the containers stay behind, their owner dead
    process.communicate(timeout=30)
    ids = {c.id for c in containers}
    assert ids <= {c.id for c in client.containers.list(all=True)}
    reap_stale(client)  # (a run starting meanwhile may reap them first: same outcome)
    assert not ids & {c.id for c in client.containers.list(all=True)}


def test_a_service_never_healthy_times_out_naming_its_container(
    backend: DockerBackend, docker_client: Any, tmp_path: Path
) -> None:
    monolith = get_topology("monolith")
    app = monolith.service("app")
    unhealthy = Topology(
        target="unhealthy",
        description="the monolith, health-checked on a path that answers 404",
        services=(ServiceSpec(name="app", module=app.module, wiring=app.wiring,
                              health_path="/no-such-health"),),
        entry="app",
        infra=monolith.infra,
    )
    settings = DeploySettings(
        run_id=f"test-docker-unhealthy-{secrets.token_hex(3)}", workdir=tmp_path, health_timeout=5
    )
    with pytest.raises(BenchError) as caught, backend.up(unhealthy, settings):
        pytest.fail("a service that never answers its health path came up")
    message = str(caught.value)
    assert f"archbench-{settings.run_id}-unhealthy-app" in message
    assert "not healthy after 5s" in message
    assert "serving app on 127.0.0.1" in message  # its log lines
    left = docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN}={settings.run_id}"}
    )
    assert left == []
