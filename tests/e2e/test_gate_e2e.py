"""``bench run --gate`` end to end on the local backend: a generous gate passes, an impossible one fails.

Real PostgreSQL, services and Locust (monolith, smoke profile). The thresholds come
from a copy of bench.toml, because they are the configuration `bench run --gate`
evaluates; the JUnit file of the failing run is written by `bench gate` over the same
run directory (the gate is a pure function of the run directory, so both see the same
checks).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import BENCH

from harness.config import DEFAULT_CONFIG

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(600)]

GENEROUS = ["error_rate < 5%", "lost == 0", "p95 < 5s", "rps > 1", "monolith GET /products/{id}: p99 < 10s"]
IMPOSSIBLE = ["p50 < 0.001ms"]


def config_with_thresholds(directory: Path, thresholds: list[str]) -> Path:
    """bench.toml with its [gate] thresholds replaced."""
    text, replaced = re.subn(
        r"^thresholds\s*=.*$", "thresholds = " + json.dumps(thresholds),
        DEFAULT_CONFIG.read_text(encoding="utf-8"), flags=re.MULTILINE,
    )
    assert replaced == 1, "bench.toml should hold exactly one `thresholds =` line (under [gate])"
    path = directory / f"bench-{len(thresholds)}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=540,
                          check=False, env={**os.environ, "GITHUB_STEP_SUMMARY": ""})


def smoke_run(tmp_path: Path, config: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "reports"
    out.mkdir(parents=True)
    done = bench("run", "monolith", "--profile", "smoke", "--backend", "local", "--out", str(out),
                 "--gate", "--config", str(config), cwd=tmp_path)
    run_dir = (out / "latest").resolve()
    assert (run_dir / "results.json").is_file(), done.stdout[-3000:] + done.stderr[-5000:]
    return done, run_dir


def test_generous_gate_passes_and_an_impossible_one_fails_with_junit(tmp_path: Path) -> None:
    generous = config_with_thresholds(tmp_path, GENEROUS)
    done, run_dir = smoke_run(tmp_path / "a", generous)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "archbench gate: PASS" in done.stdout
    assert done.stdout.count("PASS ") >= len(GENEROUS)
    gated = json.loads((run_dir / "gate.json").read_text())  # what the report shows
    assert (gated["status"], gated["exit_code"], len(gated["checks"])) == ("PASS", 0, len(GENEROUS))

    # the same run, gated again with a baseline saved from itself: no regression
    saved = bench("baseline", "save", str(run_dir), "--dir", str(tmp_path / "baselines"), cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    regression = bench("gate", str(run_dir), "--config", str(generous),
                       "--baseline", str(tmp_path / "baselines" / "smoke.json"), cwd=tmp_path)
    assert regression.returncode == 0, regression.stdout + regression.stderr
    assert "p95 regression" in regression.stdout

    impossible = config_with_thresholds(tmp_path, IMPOSSIBLE)
    done, run_dir = smoke_run(tmp_path / "b", impossible)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-5000:]
    assert "archbench gate: FAIL" in done.stdout
    assert json.loads((run_dir / "gate.json").read_text())["status"] == "FAIL"

    junit = tmp_path / "gate-junit.xml"
    gated = bench("gate", str(run_dir), "--threshold", IMPOSSIBLE[0], "--junit", str(junit), cwd=tmp_path)
    assert gated.returncode == 1, gated.stdout + gated.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "1", "0")
    (case,) = suite.findall("testcase")
    assert case.get("name") == "p50 < 0.001ms"
    assert case.get("classname") == "archbench.gate.monolith"
    failure = case.find("failure")
    assert failure is not None and "needs < 0.001ms" in (failure.get("message") or "")
