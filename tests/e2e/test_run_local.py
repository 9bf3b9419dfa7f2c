"""``bench run --profile smoke --backend local`` over all three targets, end to end.

Real PostgreSQL, NATS JetStream, services and Locust. The smoke profile is shortened
to 8 s of load (``--duration``) to keep CI quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.results import SCHEMA, load_results, schema_problems

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

BENCH = [str(Path(sys.executable).parent / "bench")]


def test_smoke_run_over_all_targets_on_the_local_backend(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    env = {**os.environ, "BENCH_DURATION": "8s"}  # exercises a BENCH_* variable too
    done = subprocess.run(
        [*BENCH, "run", "monolith", "microservices", "event-driven", "--profile", "smoke",
         "--backend", "local", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=540, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert (out / "latest").resolve() == run_dir.resolve()
    results = load_results(run_dir)
    assert results["schema"] == SCHEMA
    assert schema_problems(results) == []
    assert results["finished_at"] is not None
    assert set(results["targets"]) == {"monolith", "microservices", "event-driven"}
    for name, target in results["targets"].items():
        summary = target["summary"]
        assert summary["requests"] > 0, name
        assert target["profile"]["duration_s"] == 8.0
        assert target["integrity"]["lost"] == 0, (name, target["integrity"])
        assert target["integrity"]["ok"], (name, target["integrity"]["reasons"])
        assert target["integrity"]["acknowledged"] > 0, name
        samples = pd.read_parquet(run_dir / target["samples"])
        assert len(samples) >= summary["requests"]
        series = pd.read_csv(run_dir / target["timeseries"])
        assert series["requests"].sum() == summary["requests"]
        assert {e["name"] for e in target["endpoints"]} >= {"GET /products", "GET /products/{id}", "POST /orders"}
        assert target["resources"]["services"], name
        assert target["generator"]["cpu_mean_pct"] is not None
    event_driven = results["targets"]["event-driven"]["integrity"]["time_to_final"]
    assert event_driven is not None and event_driven["count"] > 0 and event_driven["p50_ms"] is not None
    assert results["targets"]["monolith"]["integrity"]["time_to_final"] is None
    assert (run_dir / "index.html").is_file()
