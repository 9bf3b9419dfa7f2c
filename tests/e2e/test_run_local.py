"""``bench run --profile smoke --backend local`` over all three targets, end to end.

Real PostgreSQL, NATS JetStream, services and Locust. The smoke profile is shortened
to 8 s of load (``--duration``) to keep CI quick.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import BENCH

from harness.measure import live_samples_pattern
from harness.results import SCHEMA, load_results, schema_problems

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(600)]


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


def test_bring_your_own_target_by_url_with_pid_sampling(tmp_path: Path) -> None:
    """`bench run --url` drives a service we did not start (here: a monolith started aside)."""
    from rich.console import Console

    from harness.backends import deploy_settings, get_backend
    from harness.config import load_config
    from harness.context import RunRequest, create_context
    from harness.registry import get_topology
    from harness.run import run_benchmark, run_exit_code

    config = load_config(overrides={"run.profile": "smoke", "run.out": str(tmp_path / "reports")})
    settings = deploy_settings(config, "monolith", "byo", tmp_path / "deploy")
    with get_backend("local", config).up(get_topology("monolith"), settings) as deployment:
        pid = deployment.pids("app")[0]  # type: ignore[attr-defined]
        request = RunRequest(duration=6.0, url=deployment.url + "/", name="mine", pid=pid,
                             admin_user=deployment.admin_username, admin_password=deployment.admin_password)
        run_dir = run_benchmark(create_context(config, request, Console(file=io.StringIO())))
    results = load_results(run_dir)
    assert schema_problems(results) == []
    target = results["targets"]["mine"]
    assert target["backend"] == "external" and target["url"] == deployment.url
    assert target["summary"]["requests"] > 0
    assert target["integrity"]["ok"] and target["integrity"]["lost"] == 0
    assert [s["name"] for s in target["resources"]["services"]] == ["mine"]  # sampled by --pid
    assert target["resources"]["services"][0]["cpu_seconds"] > 0
    assert run_exit_code(run_dir, config, gate=False) == 0


def test_ctrl_c_stops_load_tears_down_and_keeps_the_partial_result(tmp_path: Path) -> None:
    import signal
    import time

    import psutil

    out = tmp_path / "reports"
    process = subprocess.Popen(
        [*BENCH, "run", "monolith", "--profile", "smoke", "--backend", "local", "--duration", "60s",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    samples = None
    while time.monotonic() < deadline and samples is None:
        time.sleep(0.5)
        samples = next(iter(out.glob(live_samples_pattern("monolith"))), None)
        assert process.poll() is None, process.communicate()
    assert samples is not None, "load never started"
    time.sleep(3)
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    results = load_results(out / "latest")
    target = results["targets"]["monolith"]
    assert not target["valid"]["ok"] and "interrupted" in target["valid"]["reasons"][0]
    assert target["summary"]["requests"] > 0
    assert results["finished_at"] is not None
    assert schema_problems(results) == []
    survivors = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], [c.cmdline() for c in survivors]


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a non-interactive shell does


def test_sigint_stops_bench_run_even_when_started_with_sigint_ignored(tmp_path: Path) -> None:
    """Issue 11 item 8: `bench run` installs its own SIGINT handler (fast: nothing answers the URL)."""
    import signal
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on: bench run waits for /health
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [*BENCH, "run", "--url", f"http://127.0.0.1:{port}", "--admin-user", "a", "--admin-password", "b",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint,  # noqa: PLW1509
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "latest").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr[-3000:]
    assert time.monotonic() - sent < 10  # not after the 60 s health timeout
    assert "interrupted (SIGINT)" in stderr


def test_sigterm_during_load_is_named_and_acknowledged_orders_are_counted(tmp_path: Path) -> None:
    """Issue 11 item 4: a partial result counts the orders the samples show and names the signal."""
    import signal
    import time

    out = tmp_path / "reports"
    process = subprocess.Popen(
        [*BENCH, "run", "monolith", "--profile", "smoke", "--backend", "local", "--duration", "60s",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint,  # noqa: PLW1509
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(out.glob(live_samples_pattern("monolith"))):
        time.sleep(0.5)
        assert process.poll() is None, process.communicate()
    time.sleep(6)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    target = load_results(out / "latest")["targets"]["monolith"]
    assert target["valid"]["reasons"][0] == "interrupted (SIGTERM): partial measurement"
    integrity = target["integrity"]
    assert integrity["checked"] is False and integrity["lost"] is None
    assert integrity["acknowledged"] > 0, integrity
    assert "not checked: interrupted (SIGTERM)" in integrity["reasons"][0]
