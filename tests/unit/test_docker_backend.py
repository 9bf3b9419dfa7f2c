"""Pure parts of the docker backend: stats documents, owner labels, the build context and its hash."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from harness.backends._docker_image import (
    DOCKERFILE,
    PROJECT_ROOT,
    SOURCE_DIR,
    context_files,
    context_tar,
    sources_hash,
)
from harness.backends._docker_stats import reading_from_stats
from harness.backends._kafka import CONTAINER_LOG_DIR, container_environment, server_properties
from harness.backends.base import DeploySettings
from harness.backends.docker import (
    ContainerHandle,
    _container_name,
    _DockerLauncher,
    owner_alive,
    owner_label,
)
from harness.config import DockerConfig
from harness.registry import get_topology
from harness.topology import ServiceSpec

KAFKA_ENTRYPOINT = PROJECT_ROOT / "docker" / "kafka-entrypoint.sh"

CGROUP_V1_STATS = {
    "read": "2026-11-25T19:30:00.000000000Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
    "memory_stats": {"usage": 100 * 2**20, "stats": {"total_inactive_file": 30 * 2**20}},
}
CGROUP_V2_STATS = {
    "cpu_stats": {"cpu_usage": {"total_usage": 1_000_000}},
    "memory_stats": {"usage": 50 * 2**20, "stats": {"inactive_file": 10 * 2**20}},
}


def test_stats_v1_cpu_seconds_and_memory_without_inactive_cache() -> None:
    reading = reading_from_stats("app", CGROUP_V1_STATS, 12.5)
    assert reading.name == "app"
    assert reading.time == 12.5
    assert reading.cpu_seconds == 2.5
    assert reading.rss_bytes == 70 * 2**20


def test_stats_v2_uses_inactive_file() -> None:
    reading = reading_from_stats("db", CGROUP_V2_STATS, 1.0)
    assert reading.cpu_seconds == 0.001
    assert reading.rss_bytes == 40 * 2**20


def test_stats_of_a_stopped_container_read_as_zero() -> None:
    reading = reading_from_stats("gone", {"cpu_stats": {}, "memory_stats": {}}, 3.0)
    assert (reading.cpu_seconds, reading.rss_bytes) == (0.0, 0)


def test_own_owner_label_is_alive() -> None:
    label = owner_label()
    assert label.startswith(f"{os.getpid()}:")
    assert owner_alive(label)


def test_owner_label_of_a_dead_or_reused_pid_is_dead() -> None:
    host = socket.gethostname()
    me = psutil.Process()
    # this pid, but another start time: the pid was reused by an unrelated process
    assert not owner_alive(f"{me.pid}:{int(me.create_time()) - 1000}@{host}")
    unused_pid = max(psutil.pids()) + 10_000
    assert not owner_alive(f"{unused_pid}:1@{host}")


def test_owner_label_of_another_host_or_unknown_format_is_left_alone() -> None:
    assert owner_alive("1:1@some-other-host")
    assert owner_alive("")
    assert owner_alive("garbage")


def test_container_names_are_valid_docker_names() -> None:
    name = _container_name("20261125 19:30/x", "event-driven", "api")
    assert name == "archbench-20261125-19-30-x-event-driven-api"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "__init__.py").write_text("")
    (tmp_path / "harness" / "topology.py").write_text("T = 1\n")
    (tmp_path / "harness" / "load.py").write_text("not in the image\n")
    (tmp_path / "targets" / "a" / "__pycache__").mkdir(parents=True)
    (tmp_path / "targets" / "a" / "app.py").write_text("print(1)\n")
    (tmp_path / "targets" / "a" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    return tmp_path


def test_context_holds_targets_and_topology_but_not_caches_or_the_rest(tmp_path: Path) -> None:
    root = _project(tmp_path)
    names = [str(p) for p in context_files(root)]
    assert names == [
        "docker/Dockerfile",
        "harness/__init__.py",
        "harness/topology.py",
        "pyproject.toml",
        "targets/a/app.py",
    ]
    tar = context_tar(context_files(root), root)
    assert tar.getbuffer().nbytes > 0


def test_sources_hash_changes_with_content_and_base_image_only(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = sources_hash(context_files(root), "sha256:base", root)
    assert first == sources_hash(context_files(root), "sha256:base", root)
    assert first != sources_hash(context_files(root), "sha256:other", root)
    (root / "harness" / "load.py").write_text("changed, not in the image\n")
    assert first == sources_hash(context_files(root), "sha256:base", root)
    (root / "targets" / "a" / "app.py").write_text("print(2)\n")
    assert first != sources_hash(context_files(root), "sha256:base", root)


def test_dockerfile_puts_the_sources_in_source_dir_and_has_node() -> None:
    """Services with a command run from SOURCE_DIR: the Dockerfile must copy the project there,
    and give them Node.js (the Express monolith's start.sh execs node)."""
    text = (PROJECT_ROOT / DOCKERFILE).read_text(encoding="utf-8")
    assert f"COPY . {SOURCE_DIR}\n" in text
    assert "/usr/local/bin/node" in text and "node --version" in text


class _FakeContainers:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def run(self, image: str, **kwargs: Any) -> Any:
        self.runs.append({"image": image, **kwargs})
        return SimpleNamespace(id=f"c{len(self.runs)}", name=kwargs["name"])


def test_a_service_with_a_command_runs_from_the_project_root_in_its_container(
    tmp_path: Path,
) -> None:
    """express-monolith's command (sh targets/express_monolith/start.sh) is relative to the
    project root; a `python -m` service keeps the image's working directory."""
    client = SimpleNamespace(containers=_FakeContainers())
    topology = get_topology("express-monolith")
    launcher = _DockerLauncher(
        client, DockerConfig(), topology, DeploySettings(run_id="t", workdir=tmp_path)
    )
    module = ServiceSpec(name="api", module="targets.monolith.app")
    for spec in (topology.service("app"), module):
        handle = launcher.service(spec, spec.name, {}, 1.0, 256)
        assert isinstance(handle, ContainerHandle)
        handle.create()
    command_run, module_run = client.containers.runs
    assert command_run["working_dir"] == SOURCE_DIR == "/src"
    assert command_run["command"] == list(topology.service("app").command)
    assert "working_dir" not in module_run


def _entrypoint_writes(tmp_path: Path, environment: dict[str, str]) -> tuple[str, list[str]]:
    """Run docker/kafka-entrypoint.sh with a fake `java`: (server.properties, java calls)."""
    home = tmp_path / "kafka"
    (home / "config").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    java = bin_dir / "java"
    java.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    java.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KAFKA_HOME": str(home), **environment}
    done = subprocess.run(
        ["bash", str(KAFKA_ENTRYPOINT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (home / "config" / "server.properties").read_text(), calls.read_text().splitlines()


def test_kafka_stand_in_entrypoint_turns_the_environment_back_into_server_properties(
    tmp_path: Path,
) -> None:
    """The docker backend's KAFKA_* variables (as the official image reads them) become the
    local broker's server.properties again; the storage is formatted with CLUSTER_ID, then
    the broker starts with the heap asked for."""
    environment = container_environment(19092, 19093, 200)
    written, calls = _entrypoint_writes(tmp_path, environment)
    expected = server_properties(19092, 19093, Path(CONTAINER_LOG_DIR))
    assert sorted(written.splitlines()) == sorted(expected.splitlines())
    assert "share.coordinator.state.topic.min.isr=1" in written  # "_" inside a key survives
    format_call, server_call = calls
    assert "kafka.tools.StorageTool format --ignore-formatted" in format_call
    assert f"-t {environment['CLUSTER_ID']} " in format_call
    assert server_call.startswith("-Xmx200m -Xms128m ")
    assert server_call.endswith(f"kafka.Kafka {tmp_path}/kafka/config/server.properties")


def test_kafka_stand_in_entrypoint_without_configuration_is_a_single_local_node(
    tmp_path: Path,
) -> None:
    written, calls = _entrypoint_writes(tmp_path, {"KAFKA_HEAP_OPTS": "-Xmx256m"})
    assert "process.roles=broker,controller" in written.splitlines()
    assert "listeners=PLAINTEXT://:9092,CONTROLLER://:9093" in written.splitlines()
    assert "heap" not in written  # the JVM's variables are not broker properties
    assert re.search(r" -t [A-Za-z0-9_-]{22} ", calls[0]), calls[0]  # a random cluster id
