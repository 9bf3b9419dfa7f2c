"""Pure parts of the docker backend: stats documents, owner labels, the build context and its hash."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil

from harness.backends._docker_image import context_files, context_tar, sources_hash
from harness.backends._docker_stats import reading_from_stats
from harness.backends.docker import _container_name, owner_alive, owner_label

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
