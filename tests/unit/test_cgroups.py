"""What the local backend can enforce with cgroups, read from a cgroup tree (a temp copy here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.backends._cgroups import InstanceCgroups, detect

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroup limits need root (detect says so)")


def _v1_tree(root: Path) -> str:
    for controller in ("cpu", "memory"):
        (root / controller / "harness").mkdir(parents=True)
    return "4:memory:/harness\n1:cpu,cpuacct:/harness\n0::/\n"


def test_v1_groups_are_made_below_our_own_cgroup_with_quota_and_limit(tmp_path: Path) -> None:
    support = detect(tmp_path, _v1_tree(tmp_path))
    assert (support.version, support.cpu, support.memory) == (1, tmp_path / "cpu/harness", tmp_path / "memory/harness")
    groups = InstanceCgroups.create(support, "dep1", "app", cpus=0.5, memory_mb=256)
    cpu_dir, memory_dir = groups.directories
    assert (cpu_dir / "cpu.cfs_quota_us").read_text() == "50000"
    assert (cpu_dir / "cpu.cfs_period_us").read_text() == "100000"
    assert (memory_dir / "memory.limit_in_bytes").read_text() == str(256 * 2**20)
    assert groups.procs_files == (str(cpu_dir / "cgroup.procs"), str(memory_dir / "cgroup.procs"))
    assert "dep1-app" in cpu_dir.name and cpu_dir.name.startswith("archbench-")


def test_v2_uses_cpu_max_and_memory_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    support = detect(tmp_path, "0::/\n")
    assert support.version == 2
    groups = InstanceCgroups.create(support, "dep2", "catalog", cpus=1.5, memory_mb=512)
    (directory,) = groups.directories
    assert (directory / "cpu.max").read_text() == "150000 100000"
    assert (directory / "memory.max").read_text() == str(512 * 2**20)
    assert set((tmp_path / "cgroup.subtree_control").read_text().split()) == {"+cpu", "+memory"}


def test_a_tree_without_the_controllers_enforces_nothing_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset pids\n")
    support = detect(tmp_path, "0::/\n")
    assert support.version == 0 and "lacks cpu, memory" in support.describe()
