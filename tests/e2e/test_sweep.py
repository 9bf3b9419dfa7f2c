"""``bench sweep`` on the local backend with enforced quotas: more vCPUs, more capacity.

Two points for the monolith (0.5 and 1.0 vCPU, split over app and PostgreSQL by their
declared shares). The target's measured CPU never exceeds its budget by more than 10 %
(the cgroup quota holds), and capacity at 1.0 vCPU is higher than at 0.5.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import BENCH

from harness.backends._cgroups import detect
from harness.results import load_results, schema_problems

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.mark.skipif(not detect().enforces_cpu and not os.environ.get("BENCH_REQUIRE_CGROUPS"),
                    reason="this host cannot enforce cgroup limits (set BENCH_REQUIRE_CGROUPS=1 to fail instead)")
def test_two_point_sweep_enforces_each_budget_and_capacity_grows(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_START_RATE": "50"}
    config = tmp_path / "bench.toml"
    text = (Path(__file__).resolve().parents[2] / "bench.toml").read_text(encoding="utf-8")
    for key, value in (("step_duration", '"6s"'), ("step_warmup", '"2s"'), ("max_steps", "7"),
                       ("tolerance", '"20%"')):  # short steps: the [capacity] keys bench.toml has
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.MULTILINE)
        assert count == 1, key
    config.write_text(text, encoding="utf-8")
    done = subprocess.run([*BENCH, "sweep", "monolith", "--cpus", "0.5,1", "--backend", "local",
                           "--config", str(config), "--out", str(tmp_path / "reports")],
                          capture_output=True, text=True, env=env, timeout=850, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = load_results(Path(done.stdout.strip().splitlines()[-1]))
    assert schema_problems(results) == []
    points = {label: t for label, t in results["targets"].items() if "sweep_point" in t}
    assert set(points) == {"monolith @ 0.5 vCPU", "monolith @ 1 vCPU"}
    capacity = {}
    for label, target in points.items():
        budget = target["sweep_point"]["cpus"]
        assert sum(s["cpus"] for s in target["services"]) == pytest.approx(budget)
        for step in target["capacity"]["steps"]:
            used = sum((s["cpu_mean_pct"] or 0.0) for s in step["services"]) / 100
            assert used <= budget * 1.10, (label, step["offered_rps"], used)
        capacity[budget] = target["capacity"]["capacity_rps"] or 0.0
    assert capacity[1.0] > capacity[0.5] > 0, capacity
