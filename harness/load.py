"""Drive a target with Locust as a subprocess, pinned to the generator's CPU set.

Locust monkeypatches the interpreter (gevent) on import, so it never runs inside the
harness: ``python -m locust -f scenarios/ecommerce.py --headless`` with the scenario
settings in a JSON file named by ``ARCHBENCH_SCENARIO``. The profile's stages drive a
``LoadTestShape`` that stops the test after the last stage; a hard time limit
(duration + grace) kills Locust if it does not. While it runs, ``harness.progress`` shows
the target, stage, elapsed/total, the last seconds' RPS and p95, and failures, computed
from the raw sample files the hook is writing (a live table on a terminal, a plain line
every few seconds in a log).

Locust never outlives the harness (``harness.orphans``): it is started with the
parent-death signal and ``ARCHBENCH_OWNER`` set to this harness's owner token, and each
load run first kills the generators that dead harnesses left behind.

With generator hosts (``LoadPlan.hosts``, ``harness.distributed``) this Locust is the
master only: it waits for every worker process, the workers run the shoppers and stream
their samples here, and the outcome carries each worker's report and the reasons the
step is invalid (a worker missing, saturated, or not clock-aligned).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.backends.ownership import OWNER_ENV, owner_token
from harness.config import Profile
from harness.cpus import check_cpu_list
from harness.distributed import (
    LOCUSTFILE_NAME,
    GeneratorHosts,
    WorkerInfo,
    locustfile_source,
    master_options,
    read_workers,
    worker_problems,
)
from harness.errors import BenchError
from harness.orphans import die_with_parent, reap_dead_generators
from harness.progress import LiveFigures, ProgressView, progress_interval_s
from scenarios.settings import ENV_VAR, ScenarioSettings

LOCUSTFILE = Path(__file__).resolve().parent.parent / "scenarios" / "ecommerce.py"
GRACE_S = 30.0  # beyond the profile's duration before Locust is killed


@dataclass(frozen=True)
class LoadPlan:
    """One Locust run against one target."""

    target: str
    url: str
    profile: Profile  # carries its name
    settings: ScenarioSettings
    workdir: Path  # scenario.json, locust.log and the sample files (settings.samples_dir)
    generator_cpus: str = ""
    processes: int = 1
    hosts: GeneratorHosts = GeneratorHosts()  # remote generator hosts (none: load from here)
    bound_pct: float = 90.0  # a remote worker's mean CPU % at or above which the step is invalid


@dataclass(frozen=True)
class LoadOutcome:
    """What happened: when load ran (epoch seconds), how Locust ended, where its log is."""

    start_s: float  # the load shape's start (from the locustfile's start marker)
    end_s: float  # start + planned duration, or when Locust ended, whichever is earlier
    exit_code: int | None
    log: Path
    timed_out: bool
    workers: tuple[WorkerInfo, ...] = ()  # remote generator worker processes (distributed only)
    generator_problems: tuple[str, ...] = ()  # why the distributed generator invalidates the step


def locust_command(plan: LoadPlan, locustfile: Path = LOCUSTFILE) -> list[str]:
    """The Locust command line for ``plan`` (the master's, with generator hosts)."""
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--host", plan.url, "--loglevel", "WARNING", "--exit-code-on-error", "0",
        "--stop-timeout", "2",
    ]
    if plan.hosts.distributed:
        command += [*master_options(plan.hosts),
                    "--expect-workers-max-wait", f"{plan.hosts.connect_timeout_s:g}"]
    elif plan.processes > 1:
        command += ["--processes", str(plan.processes)]
    return command


def run_load(plan: LoadPlan, console: Console | None = None,
             on_started: Callable[[int, float], None] | None = None) -> LoadOutcome:
    """Run Locust for ``plan`` until its shape ends (or the hard limit); return the outcome.

    ``on_started(pid, start_s)`` is called once the load shape has started (for resource
    sampling). Ctrl-C stops Locust (its whole process group) and re-raises.
    """
    console = console or Console(stderr=True)
    samples_dir = Path(plan.settings.samples_dir)
    log_path = plan.workdir / "locust.log"
    interval_s = progress_interval_s()
    reaped = reap_dead_generators()
    if reaped:
        console.print(f"  stopped {len(reaped)} load-generator process(es) a dead run left behind")
    launched = time.time()
    process, locustfile = _launch(plan, log_path)
    limit = launched + plan.profile.duration + GRACE_S + (
        plan.hosts.connect_timeout_s if plan.hosts.distributed else 0.0)
    marker = samples_dir / "start.txt"
    start_s: float | None = None
    figures = LiveFigures(samples_dir)
    timed_out = False
    try:
        with ProgressView(plan.target, plan.profile, console, interval_s) as view:
            while process.poll() is None:
                time.sleep(0.5)
                now = time.time()
                if start_s is None and marker.exists():
                    text = marker.read_text(encoding="utf-8").strip()
                    if text:
                        start_s = float(text)
                        if on_started is not None:
                            on_started(process.pid, start_s)
                view.update(figures.snapshot(now, start_s), time.monotonic())
                if now > limit:
                    timed_out = True
                    _stop(process)
                    break
    except BaseException:
        _stop(process)
        raise
    finally:
        if locustfile != LOCUSTFILE:
            locustfile.unlink(missing_ok=True)  # it holds the shoppers' passwords
    ended = time.time()
    if start_s is None:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise BenchError(f"Locust never started the load against {plan.url}; its log ({log_path}):\n{tail}")
    return LoadOutcome(
        start_s=start_s, end_s=min(ended, start_s + plan.profile.duration),
        exit_code=process.returncode, log=log_path, timed_out=timed_out,
        **_distributed_outcome(plan, samples_dir),
    )


def _launch(plan: LoadPlan, log_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Write the settings (and a distributed step's locustfile), start Locust; (process, locustfile)."""
    plan.workdir.mkdir(parents=True, exist_ok=True)
    Path(plan.settings.samples_dir).mkdir(parents=True, exist_ok=True)
    settings_path = plan.workdir / "scenario.json"
    settings_path.write_text(plan.settings.to_json(), encoding="utf-8")
    locustfile = LOCUSTFILE
    if plan.hosts.distributed:  # the workers download it from the master (Locust's -f -)
        locustfile = plan.workdir / LOCUSTFILE_NAME
        locustfile.write_text(locustfile_source(plan.settings.to_json()), encoding="utf-8")
    cpus = check_cpu_list(plan.generator_cpus, "cpu.generator_cpus")  # strict: never silently unpinned
    env = {**os.environ, ENV_VAR: str(settings_path), "PYTHONUNBUFFERED": "1", OWNER_ENV: owner_token()}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            locust_command(plan, locustfile), stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
            # pinning and the parent-death signal must be set between fork and exec
            preexec_fn=die_with_parent(cpus), start_new_session=True,  # noqa: PLW1509
        )
    return process, locustfile


def _distributed_outcome(plan: LoadPlan, samples_dir: Path) -> dict[str, Any]:
    """``LoadOutcome`` fields of a distributed step: the workers and what invalidates it."""
    if not plan.hosts.distributed:
        return {}
    workers = read_workers(samples_dir)
    problems = worker_problems(workers, plan.hosts.expected_workers, plan.bound_pct)
    return {"workers": tuple(workers), "generator_problems": tuple(problems)}


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM Locust's process group (it started a session of its own), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
