"""Open-model load against a real target: latency from the intended start (coordinated omission).

The wrk2 demonstration, on archbench: arrivals keep their schedule while the target is
frozen (SIGSTOP) for a known time, so requests due during the pause wait for it. Their
response time (from the intended start) shows the pause; their service time (from the
actual send, after a slot freed up) does not.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.backends import deploy_settings, get_backend
from harness.config import Profile, load_config
from harness.context import RunRequest, create_context
from harness.measure import LIVE_SAMPLES_DIR, WORK_DIR
from harness.registry import get_topology
from harness.results import load_results, schema_problems
from harness.run import run_benchmark
from scenarios.plan import Stage

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(300)]

RATE = 200.0  # arrivals/s
LOAD_S = 22.0
WARMUP_S = 2.0
PAUSE_S = 2.0


def _pause_once(deployment, out: Path, span: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    """Wait for the load to start, freeze the app PAUSE_S seconds into the measured window."""
    deadline = time.time() + 120
    while time.time() < deadline and not any(out.glob(f"*/monolith/{WORK_DIR}/{LIVE_SAMPLES_DIR}/start.txt")):
        time.sleep(0.1)
    time.sleep(WARMUP_S + 6.0)
    span["paused"] = time.time()
    deployment.pause_service("app")
    try:
        time.sleep(PAUSE_S)
    finally:
        deployment.resume_service("app")
        span["resumed"] = time.time()


def test_a_pause_shows_in_response_time_but_not_in_service_time(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    config = load_config(overrides={"run.out": str(out)})
    profile = Profile(name="co-pause", warmup=WARMUP_S, max_in_flight=8,
                      stages=(Stage(duration=LOAD_S, users=1, rate=RATE),))
    config = dataclasses.replace(config, profiles={**config.profiles, "co-pause": profile},
                                 run=dataclasses.replace(config.run, profile="co-pause"))
    settings = deploy_settings(config, "monolith", "co", tmp_path / "deploy")
    span: dict[str, float] = {}
    with get_backend("local", config).up(get_topology("monolith"), settings) as deployment:
        pauser = threading.Thread(target=_pause_once, args=(deployment, out, span), daemon=True)
        pauser.start()
        request = RunRequest(url=deployment.url, name="monolith", admin_user=deployment.admin_username,
                             admin_password=deployment.admin_password)
        run_dir = run_benchmark(create_context(config, request, Console(file=io.StringIO())))
        pauser.join(timeout=30)
    assert "resumed" in span, "the pause never happened"
    results = load_results(run_dir)
    assert schema_problems(results) == []
    target = results["targets"]["monolith"]
    summary = target["summary"]
    assert target["profile"]["model"] == "open"
    assert summary["rps"] == pytest.approx(RATE, rel=0.05)  # the schedule was kept through the pause
    paused = span["resumed"] - span["paused"]
    window = target["duration_s"]
    # Requests intended during the pause wait for its end: their latencies spread evenly over
    # [0, pause], a share pause/window of all. The p99 is where 1 % of the window's requests lie
    # above it: pause - 0.01 * window (the backlog drains fast at this low rate).
    implied_ms = (paused - 0.01 * window) * 1000
    assert summary["p99_ms"] == pytest.approx(implied_ms, rel=0.10), (summary, paused, window)
    assert summary["service_p99_ms"] < 0.1 * implied_ms, summary  # only ~8 in-flight saw the pause
    assert summary["dropped"] == 0
