"""``bench run``: every selected target through up -> seed -> load -> analysis -> integrity.

``run_benchmark`` takes the ``RunContext`` the command built (``harness.context``). Each
target's result is written to ``<out>/<run-id>/results.json`` (atomically) as soon as
that target finishes, so an aborted run keeps what it measured; ``<out>/latest`` points at
the newest run. A signal (Ctrl-C, SIGTERM) stops the load, tears the target down, records
the partial measurement (naming the signal) and re-raises. ``run_verdict`` says whether
the run may exit 0: an invalid target or a failed integrity check fails it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.backends import deploy_settings
from harness.backends._stale import owned_temp_directory
from harness.backends.base import Deployment, DeploySettings
from harness.config import Config, config_to_dict
from harness.context import RunContext, link_latest
from harness.errors import EXIT_FAILED, EXIT_OK, BenchError, ConfigError
from harness.faults import FaultPlanError, plan_faults
from harness.hostinfo import collect_host
from harness.measure import RunInterrupted, TargetUnderTest, measure_target
from harness.pricing.claims import check_claims
from harness.pricing.cost import cost_for_target
from harness.registry import get_topology
from harness.report import write_run_reports
from harness.results import (
    SCHEMA,
    Results,
    ServiceInfo,
    TargetResult,
    dump_results,
    integrity_checked,
    load_results,
)
from harness.seed import wait_healthy


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _services_of(deployment: Deployment) -> list[ServiceInfo]:
    return [ServiceInfo(name=i.name, role=i.role, cpus=i.cpus, memory_mb=i.memory_mb, workers=i.workers)
            for i in deployment.instances]


Measure = Callable[[RunContext, TargetUnderTest, dict[str, float]], TargetResult]


@dataclass(frozen=True)
class Job:
    """One measurement of a run: its key in results.json, the target, and the config it runs with."""

    label: str  # results.json key, e.g. "monolith" or "monolith @ 0.5 vCPU"
    target: str
    config: Config
    point: dict[str, Any] | None = None  # a sweep point (recorded as the result's sweep_point)


def run_benchmark(context: RunContext, measure: Measure = measure_target,
                  jobs: Sequence[Job] = ()) -> Path:
    """Run the benchmark ``context`` describes; return the run directory (results complete or partial).

    ``measure`` is what happens to each target once it is up: one load run
    (``measure_target``), or a capacity search (``harness.capacity.runner.measure_capacity``).
    ``jobs``: what to measure (default: each of the context's targets with its config), e.g.
    the points of a sweep, each with the CPU budget and replicas it runs with.
    """
    console, run_dir, profile = context.console, context.run_dir, context.profile
    check_faults(context)
    if context.backend is not None:
        console.print(f"backend: {context.backend.name} — {context.backend_reason}")
    link_latest(context)
    results = Results(schema=SCHEMA, run_id=context.run_id, started_at=_now(), finished_at=None,
                      host=collect_host(), config=config_to_dict(context.config), targets={})
    dump_results(results, run_dir)
    console.print(f"run {context.run_id}: profile {profile.name} ({profile.duration:.0f}s load, "
                  f"{profile.warmup:.0f}s warm-up) -> {run_dir}")
    try:
        for job in jobs or [Job(t, t, context.config) for t in context.targets]:
            timings: dict[str, float] = {}
            console.rule(job.label)
            job_context = context if job.config is context.config else dataclasses.replace(context, config=job.config)
            try:
                result = _run_one(job_context, job, timings, measure)
            except RunInterrupted as interrupted:
                results["targets"][job.label] = interrupted.result
                raise
            result["timings"] = timings
            if job.point is not None:
                result["sweep_point"] = job.point
            result["cost"] = cost_for_target(result, job.config)
            result["claims"] = check_claims(result, job.config)
            results["targets"][job.label] = result
            dump_results(results, run_dir)
            _print_outcome(context, result)
    finally:
        results["finished_at"] = _now()
        dump_results(results, run_dir)
        _write_reports(context)
    return run_dir


def check_faults(context: RunContext) -> None:
    """Refuse, before anything starts, a fault schedule the run's targets cannot take.

    ConfigError: faults with ``bench run --url`` (no control over that service), or a
    fault naming an instance a target lacks (listing its instances) or falling outside
    the (resolved) profile's load.
    """
    if not context.profile.faults:
        return
    if context.external is not None:
        raise ConfigError(f"profile {context.profile.name!r} injects faults, but bench run --url drives a "
                          "service archbench did not start, so it cannot kill or pause its parts; run "
                          "without --url, or choose a profile without `faults`")
    for target in context.targets:
        try:
            plan_faults(context.profile.faults, get_topology(target), context.profile.duration,
                        context.profile.warmup)
        except FaultPlanError as error:
            raise ConfigError(f"profile {context.profile.name!r}: {error.where}: {error.problem}") from None


def _run_one(context: RunContext, job: Job, timings: dict[str, float], measure: Measure) -> TargetResult:
    external = context.external
    if external is not None:
        wait_healthy(external.url, context.config.run.health_timeout)
        under_test = TargetUnderTest(
            name=external.name, backend="external", url=external.url,
            admin_username=external.admin_username, admin_password=external.admin_password,
            pids={external.name: external.pid} if external.pid else {},
        )
        return measure(context, under_test, timings)
    # a short work path: PostgreSQL's unix socket path must stay under 108 bytes
    with owned_temp_directory() as workdir:
        settings = deploy_settings(context.config, job.target, context.run_id, workdir)
        return _run_deployed(context, job, settings, timings, measure)


def _run_deployed(context: RunContext, job: Job, settings: DeploySettings,
                  timings: dict[str, float], measure: Measure) -> TargetResult:
    target = job.target
    if context.backend is None:
        raise BenchError(f"{target}: no backend was chosen for this run")
    clock = time.monotonic()
    with context.backend.up(get_topology(target), settings) as deployment:
        timings["up_s"] = time.monotonic() - clock
        context.console.print(f"  {target} up at {deployment.url} in {timings['up_s']:.1f}s")
        under_test = TargetUnderTest(
            name=target, backend=deployment.backend, url=deployment.url,
            admin_username=deployment.admin_username, admin_password=deployment.admin_password,
            services=_services_of(deployment), read_resources=deployment.read_resources,
            control=deployment, directory=files_directory(job.label),
        )
        result = measure(context, under_test, timings)
        clock = time.monotonic()  # teardown runs as the block exits
    timings["down_s"] = time.monotonic() - clock
    return result


def files_directory(label: str) -> str:
    """The directory of a job's files below the run directory: its label, made path-safe."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "target"


def format_integrity(result: TargetResult) -> str:
    """``integrity ok (N orders, 0 lost)``, ``... FAILED ...`` or ``... not checked ...``."""
    integrity = result["integrity"]
    if not integrity_checked(integrity):
        return f"integrity not checked ({integrity['acknowledged']} orders acknowledged, unchecked)"
    verdict = "ok" if integrity["ok"] else "FAILED"
    return f"integrity {verdict} ({integrity['acknowledged']} orders, {integrity['lost']} lost)"


def outcome_lines(result: TargetResult) -> list[str]:
    """The console lines (rich markup) that close one target: the summary, then each reason.

    A failed integrity check is red; an integrity record that was not checked is neither a
    failure nor ok, so its reason is a yellow "integrity not checked: <reason>" line.
    """
    summary = result["summary"]
    p95 = summary["p95_ms"]
    lines = [
        f"  {result['target']}: {summary['requests']} requests, {summary['rps']:.0f} req/s, "
        f"p95 {'–' if p95 is None else f'{p95:.1f} ms'}, errors {summary['error_rate']:.2%}; "
        f"{format_integrity(result)}"
    ]
    integrity = result["integrity"]
    if integrity_checked(integrity):
        lines += [f"  [red]integrity: {reason}[/red]" for reason in integrity["reasons"]]
    else:
        lines += [f"  [yellow]integrity {reason if reason.startswith('not checked') else f'not checked: {reason}'}"
                  "[/yellow]" for reason in integrity["reasons"] or ["no reason recorded"]]
    lines += [f"  [yellow]invalid: {reason}[/yellow]" for reason in result["valid"]["reasons"]]
    if result["generator"]["bound"]:
        lines.append(f"  [bold yellow]generator-bound: {result['generator']['reason']}[/bold yellow]")
    return lines


def _print_outcome(context: RunContext, result: TargetResult) -> None:
    for line in outcome_lines(result):
        context.console.print(line)


def _write_reports(context: RunContext) -> None:
    try:
        for path in write_run_reports(context.run_dir):
            context.console.print(f"report: {path}")
    except BenchError as error:
        context.console.print(f"[yellow]report not written: {error}[/yellow]")


@dataclass(frozen=True)
class RunVerdict:
    """Whether a finished run may exit 0, and the reasons (one line each) when not."""

    invalid: list[str]  # "<target>: invalid: <reason>" (ignored with allow_invalid)
    integrity: list[str]  # "<target>: integrity: <reason>" of checks that ran and failed

    def exit_code(self, allow_invalid: bool = False) -> int:
        """1 when integrity failed, or a target is invalid (unless ``allow_invalid``); else 0."""
        failed = self.integrity or (self.invalid and not allow_invalid)
        return EXIT_FAILED if failed else EXIT_OK

    def reasons(self, allow_invalid: bool = False) -> list[str]:
        """The lines a command prints last, in target order."""
        return [*([] if allow_invalid else self.invalid), *self.integrity]


def run_verdict(results: Results) -> RunVerdict:
    """Invalid targets and failed integrity checks of ``results`` (pure).

    An integrity record that was not checked is not a failure by itself: the validity
    says whether that makes the run meaningless (e.g. orders expected but none acknowledged).
    """
    invalid: list[str] = []
    integrity: list[str] = []
    for name, target in results["targets"].items():
        if not target["valid"]["ok"]:
            invalid += [f"{name}: invalid: {reason}" for reason in target["valid"]["reasons"] or ["(no reason)"]]
        checks = target["integrity"]
        if integrity_checked(checks) and not checks["ok"]:
            integrity += [f"{name}: integrity: {reason}" for reason in checks["reasons"] or ["(no reason)"]]
    return RunVerdict(invalid=invalid, integrity=integrity)


def run_exit_code(run_dir: Path, config: Config, gate: bool, *, junit: Path | None = None,
                  allow_invalid: bool = False) -> int:
    """0 when every target is valid and kept its orders (and the gate passed, with ``gate``).

    1 for an invalid target (unless ``allow_invalid``) or a failed integrity check, without
    evaluating the gate; otherwise with ``gate`` the gate's code (``junit``: where it writes
    its JUnit XML).
    """
    code = run_verdict(load_results(run_dir)).exit_code(allow_invalid)
    if code != EXIT_OK or not gate:
        return code
    from harness.gate.command import gate_run

    return gate_run(run_dir, config, junit=junit)
