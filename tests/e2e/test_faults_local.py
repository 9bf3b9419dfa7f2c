"""Faults under open-model load on the local backend: recovery measured, nothing lost, nothing left paused.

One run per architecture kills a service (the restart policy brings it back) and then
pauses a PostgreSQL server for 2 s, with requests that give up after 1 s so the hung
database shows as failures. A last test interrupts `bench run` during a pause.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from harness.config import DEFAULT_CONFIG, load_config
from harness.context import RunRequest, create_context
from harness.results import FaultResult, load_results, schema_problems
from harness.run import run_benchmark

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(420)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# (target, service to kill, PostgreSQL server to pause)
CASES = [("monolith", "app", "postgres"), ("microservices", "catalog", "catalog-db"),
         ("event-driven", "api", "postgres")]


def config_with_profile(directory: Path, profile: str) -> Path:
    """bench.toml plus ``profile`` (TOML text), restarting after 0.5 s, 1 s request timeout."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = text.replace('health_timeout = "60s"\n', 'health_timeout = "60s"\nrestart_delay = "500ms"\n', 1)
    # shoppers give up after 1 s, so a hung database shows as failures; few shoppers, so
    # their log-ins (a memory-hard KDF, all at once) still finish within that second
    text = text.replace('request_timeout = "10s"', 'request_timeout = "1s"', 1)
    text = text.replace("users = 50\n", "users = 5\n", 1)
    path = directory / "bench.toml"
    path.write_text(text + "\n" + profile, encoding="utf-8")
    return path


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A world-traversable TMPDIR (PostgreSQL runs as nobody under root)."""
    path = Path(tempfile.mkdtemp(prefix="archbench-faults-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fault(faults: list[FaultResult], action: str) -> FaultResult:
    return next(f for f in faults if f["event"]["action"] == action)


@pytest.mark.parametrize(("target", "service", "database"), CASES)
def test_a_killed_service_recovers_and_a_paused_database_dips_availability(
        tmp_path: Path, target: str, service: str, database: str) -> None:
    out = tmp_path / "reports"
    profile = f"""
[profiles.faulty]
warmup = "2s"
max_in_flight = 200
stages = [{{ duration = "24s", rate = 40 }}]
faults = [{{ at = "6s", action = "kill", service = "{service}" }},
          {{ at = "15s", action = "pause", service = "{database}", duration = "2s" }}]
"""
    config = load_config(config_with_profile(tmp_path, profile),
                         overrides={"run.out": str(out), "run.backend": "local", "run.profile": "faulty"})
    context = create_context(config, RunRequest(targets=(target,)), Console(file=io.StringIO()))
    results = load_results(run_benchmark(context))
    assert schema_problems(results) == []
    result = results["targets"][target]
    section = result["faults"]
    kill, pause = _fault(section["faults"], "kill"), _fault(section["faults"], "pause")

    assert kill["event"]["error"] == "" and kill["event"]["restarts"], kill["event"]
    restart = kill["event"]["restarts"][0]
    assert restart["healthy_s"] is not None and restart["healthy_s"] > kill["event"]["at_s"]
    assert kill["time_to_recover_s"] is not None and 0 < kill["time_to_recover_s"] < 9, kill
    assert kill["failures"] > 0 and kill["orders"]["lost"] == 0
    assert result["integrity"]["lost"] == 0, result["integrity"]

    assert pause["event"]["end_s"] - pause["event"]["at_s"] == pytest.approx(2.0, abs=0.3)
    per_second = pause["per_second"]
    before = [a for t, a in zip(per_second["t_s"], per_second["availability"], strict=True) if t < 15]
    during = [a for t, a in zip(per_second["t_s"], per_second["availability"], strict=True) if 15 <= t < 17]
    assert min(before) >= 0.95 and min(a for a in during if a is not None) < 0.9, per_second
    assert pause["orders"]["lost"] == 0


def _stopped_descendants(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    stopped = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_STOPPED:
                stopped.append(child)
        except psutil.NoSuchProcess:
            continue
    return stopped


def test_ctrl_c_during_a_pause_leaves_no_stopped_process(tmp_path: Path, private_tmp: Path) -> None:
    out = tmp_path / "reports"
    profile = """
[profiles.hang]
warmup = "2s"
stages = [{ duration = "60s", rate = 20 }]
faults = [{ at = "6s", action = "pause", service = "postgres", duration = "40s" }]
"""
    config = config_with_profile(tmp_path, profile)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "run", "monolith", "--backend",
         "local", "--profile", "hang", "--config", str(config), "--out", str(out)],
        cwd=PROJECT_ROOT, env=dict(os.environ, TMPDIR=str(private_tmp)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 180
        stopped: list[psutil.Process] = []
        while time.time() < deadline and not stopped and proc.poll() is None:
            time.sleep(0.5)
            stopped = _stopped_descendants(proc.pid)
        assert stopped, "postgres was never paused"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    left = []
    for process in stopped:
        try:
            if process.status() == psutil.STATUS_STOPPED:
                left.append(process)
        except psutil.NoSuchProcess:
            continue
    assert left == [], (left, stderr[-3000:])
    results = load_results((out / "latest").resolve())
    assert "monolith" in results["targets"], stderr[-3000:]
    assert "interrupted" in " ".join(results["targets"]["monolith"]["valid"]["reasons"])
