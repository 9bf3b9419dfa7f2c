"""The local backend enforces each instance's CPU quota and memory limit with cgroups (as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.backends._cgroups import detect
from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.errors import BenchError
from harness.registry import get_topology

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(180)]
needs_cgroups = pytest.mark.skipif(
    not (detect().enforces_cpu and detect().enforces_memory) and not os.environ.get("BENCH_REQUIRE_CGROUPS"),
    reason="this host cannot enforce cgroup limits (set BENCH_REQUIRE_CGROUPS=1 to fail instead)",
)


def _cgroup_of(pid: int, controller: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (not controllers and controller == ""):
            return path
    return ""


@needs_cgroups
def test_every_process_of_an_instance_is_in_its_limited_cgroup(tmp_path: Path) -> None:
    settings = DeploySettings(run_id="limits", workdir=tmp_path, workers=2, limits="enforce",
                              overrides={"app": {"cpus": 0.5, "memory_mb": 300}})
    support = detect()
    with LocalBackend().up(get_topology("monolith"), settings) as deployment:
        assert deployment.limits_enforced
        app = deployment.pids("app")
        assert len(app) >= 3  # the supervisor and its two workers, forked after the join
        groups = {_cgroup_of(pid, "cpu" if support.version == 1 else "") for pid in app}
        assert len(groups) == 1 and "archbench-" in next(iter(groups))
        cpu_dir = (support.cpu or Path()) / next(iter(groups)).rsplit("/", 1)[-1]
        if support.version == 1:
            assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "50000"
        else:
            assert (cpu_dir / "cpu.max").read_text().split()[0] == "50000"
        postgres = deployment.pids("postgres")  # runs as an unprivileged user, joined first
        assert {_cgroup_of(pid, "cpu" if support.version == 1 else "") for pid in postgres} != groups
        assert all("archbench-" in _cgroup_of(pid, "cpu" if support.version == 1 else "") for pid in postgres)
    assert not cpu_dir.exists()  # removed at teardown


def test_report_mode_enforces_nothing_and_enforce_mode_refuses_when_impossible(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = DeploySettings(run_id="report", workdir=tmp_path, limits="report")
    with LocalBackend().up(get_topology("monolith"), settings) as deployment:
        assert not deployment.limits_enforced
    from harness.backends import _cgroups, local

    monkeypatch.setattr(local, "detect", lambda: _cgroups.CgroupSupport(0, None, None, "not root"))
    with pytest.raises(BenchError, match=r"cpu.limits = \"enforce\".*docker"):
        with LocalBackend().up(get_topology("monolith"), DeploySettings(run_id="x", workdir=tmp_path,
                                                                        limits="enforce")):
            pass
