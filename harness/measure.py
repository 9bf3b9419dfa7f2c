"""Measure one running target: seed -> load -> analysis -> integrity -> one TargetResult.

``measure_target`` runs the phases in order; each phase returns a small record and
``assemble`` (pure) turns the records into the ``TargetResult``. It works on a URL plus
optional resource readers, so it serves both a deployment started by a backend and an
already-running service (``bench run --url``). It writes the target's files
(samples.parquet, timeseries/endpoints/resources CSV) under ``run_dir/<target>/`` and
returns the result; the caller records it in results.json.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd

from harness.analysis import FAILURE_CLASSES, Analysis, Window, analyse
from harness.backends.base import Deployment, ResourceReading
from harness.config import Config, Profile, generator_hosts
from harness.context import Interrupted, RunContext, interrupt_name
from harness.distributed import scenario_options
from harness.errors import ConfigError
from harness.faults import FaultPlanError, PlannedFault, plan_faults
from harness.faults_run import FaultScheduler
from harness.integrity import (
    OrderTracker,
    acknowledged_orders,
    check_integrity,
    integrity_unchecked,
)
from harness.load import LoadOutcome, LoadPlan, run_load
from harness.registry import get_topology
from harness.resilience import FaultInputs, fault_section
from harness.resources import GENERATOR, ResourceSampler, generator_info, summarise
from harness.results import (
    CacheStats,
    FaultEvent,
    FaultsSection,
    Integrity,
    LatencyStats,
    ServiceInfo,
    TargetResult,
    Validity,
    write_atomic,
)
from harness.samples import read_dropped, read_samples, read_schedule, write_parquet
from harness.seed import SeedResult, admin_token, seed_target
from scenarios.plan import is_open_model, planned_users
from scenarios.settings import ScenarioSettings

WORK_DIR = "work"  # <run>/<target>/work: files written while a target is measured
LIVE_SAMPLES_DIR = "samples"  # the hook's per-process sample files, below WORK_DIR


def live_samples_pattern(target: str, run: str = "*") -> str:
    """Glob, relative to the out dir, of ``target``'s sample files while load runs.

    ``run`` matches run directory names ("2*" skips the ``latest`` link).
    """
    return f"{run}/{target}/{WORK_DIR}/{LIVE_SAMPLES_DIR}/samples-*.tsv"


@dataclass
class TargetUnderTest:
    """Where a target answers and how to read its resources."""

    name: str
    backend: str  # "local", "docker" or "external"
    url: str
    admin_username: str
    admin_password: str
    services: list[ServiceInfo] = field(default_factory=list)
    read_resources: Callable[[], Sequence[ResourceReading]] | None = None
    pids: dict[str, int] = field(default_factory=dict)  # extra process trees to sample (--pid)
    # Per-instance control (kill, pause, restart) for fault injection: the deployment a
    # backend started; None for a service archbench did not start (bench run --url).
    control: Deployment | None = None
    directory: str = ""  # its files' directory below the run directory (default: ``name``)

    @property
    def files_name(self) -> str:
        """The directory, relative to the run directory, its files go to."""
        return self.directory or self.name


class RunInterrupted(Interrupted):
    """A signal stopped the load: carries the partial ``TargetResult`` measured so far.

    ``measure_target`` raises it after writing the target's files; ``harness.run``
    records ``result`` in results.json and lets it propagate (it is a KeyboardInterrupt,
    so every deployment tears down on the way out).
    """

    def __init__(self, result: TargetResult, signal_name: str) -> None:
        super().__init__(signal_name)
        self.result = result


@dataclass(frozen=True)
class TargetFiles:
    """Where one target's files go: ``<run>/<target>/`` and its work directory."""

    relative: Path  # <target>, relative to the run directory (as results.json records paths)
    directory: Path
    work: Path
    samples: Path  # the hook's live sample files

    @classmethod
    def of(cls, run_dir: Path, target: str) -> TargetFiles:
        directory = run_dir / target
        work = directory / WORK_DIR
        return cls(relative=Path(target), directory=directory, work=work, samples=work / LIVE_SAMPLES_DIR)


@dataclass(frozen=True)
class LoadRecord:
    """What the load phase produced: its window (epoch seconds), samples and resource readings."""

    start_s: float
    end_s: float
    samples: pd.DataFrame
    resources: pd.DataFrame  # RESOURCE_COLUMNS, t_s relative to start_s
    resource_errors: list[str] = field(default_factory=list)
    outcome: LoadOutcome | None = None  # None when interrupted
    interrupted: str | None = None  # the signal that stopped the load ("SIGINT", "SIGTERM")
    dropped_s: np.ndarray = field(default_factory=lambda: np.empty(0))  # open model: intended
    # start times (epoch s) of arrivals the generator could not send
    dropped_names: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # their endpoints
    schedule: dict[str, float] = field(default_factory=dict)  # open model: scheduler lag
    faults: list[FaultEvent] = field(default_factory=list)  # the profile's faults, as injected


# What a resource reading's memory is: a process tree's PSS, or a container cgroup's usage.
MEMORY_BY_BACKEND = {"local": "pss", "external": "pss", "docker": "cgroup"}


def profile_dict(profile: Profile) -> dict[str, Any]:
    """The resolved profile as results.json records it."""
    return {
        "name": profile.name, "description": profile.description, "warmup_s": profile.warmup,
        "duration_s": profile.duration, "rate": profile.rate,
        "stages": [{"duration_s": s.duration, "users": s.users, "spawn_rate": s.spawn_rate,
                    **({"rate": s.rate} if s.rate > 0 else {})} for s in profile.stages],
        **({"model": "open", "arrival": profile.arrival, "max_in_flight": profile.max_in_flight}
           if is_open_model(profile.stages) else {"model": "closed"}),
    }


def endpoints_csv(endpoints: Sequence[LatencyStats]) -> str:
    """The per-endpoint table as CSV: LatencyStats columns, failure classes as ``failures_<class>``."""
    rows = []
    for endpoint in endpoints:
        row = {k: v for k, v in endpoint.items() if k != "failure_classes"}
        for klass in FAILURE_CLASSES:
            row[f"failures_{klass}"] = endpoint["failure_classes"].get(klass, 0)
        rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False)


def _login_admin(url: str, username: str, password: str) -> str:
    async def go() -> str:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30.0)) as session:
            return await admin_token(session, url, username, password)

    return asyncio.run(go())


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def seed_phase(context: RunContext, target: TargetUnderTest, timings: dict[str, float]) -> SeedResult:
    """Seed ``target`` with ``[seed]``'s catalog and shoppers; ``timings["seed_s"]``."""
    config = context.config
    clock = time.monotonic()
    seed = seed_target(target.url, config.seed, target.admin_username, target.admin_password,
                       timeout_s=config.scenario.request_timeout * 3)
    timings["seed_s"] = time.monotonic() - clock
    context.console.print(f"  seeded {len(seed.product_ids)} products and {len(seed.credentials)} users "
                          f"in {seed.seconds:.1f}s")
    return seed


def load_phase(context: RunContext, target: TargetUnderTest, settings: ScenarioSettings,
               files: TargetFiles, timings: dict[str, float]) -> LoadRecord:
    """Run Locust with resource sampling; a signal during load ends it early (``interrupted``)."""
    config = context.config
    scheduler = _fault_scheduler(context.profile, target)
    sampler = ResourceSampler(read=target.read_resources, processes=dict(target.pids))
    sampler.start()

    def started(pid: int, start_s: float) -> None:
        sampler.origin_s = start_s
        sampler.processes[GENERATOR] = pid
        if scheduler is not None:
            scheduler.start(start_s)

    plan = LoadPlan(target=target.name, url=target.url, profile=context.profile, settings=settings,
                    workdir=files.work, generator_cpus=config.cpu.generator_cpus,
                    processes=config.cpu.generator_processes, hosts=generator_hosts(config),
                    bound_pct=config.cpu.generator_bound_pct)
    interrupted: str | None = None
    outcome: LoadOutcome | None = None
    clock = time.monotonic()
    try:
        outcome = run_load(plan, console=context.console, on_started=started)
    except KeyboardInterrupt as error:
        interrupted = interrupt_name(error)
    finally:
        events = scheduler.stop(wait_restarts_s=0.0 if outcome is None else 30.0) if scheduler else []
        sampler.stop()
        timings["load_s"] = time.monotonic() - clock
    (files.work / "scenario.json").unlink(missing_ok=True)  # it holds the shoppers' passwords
    samples = read_samples(files.samples)
    dropped = read_dropped(files.samples)
    dropped_s = dropped["intended_s"].to_numpy(dtype=np.float64)
    schedule = read_schedule(files.samples)
    write_parquet(samples, files.directory / "samples.parquet")
    if outcome is not None:
        start_s, end_s = outcome.start_s, outcome.end_s
    else:  # interrupted: the window is what was recorded
        start_s = float(samples["start_s"].min()) if len(samples) else time.time()
        end_s = float(samples["start_s"].max()) + 1e-6 if len(samples) else start_s
        sampler.origin_s = sampler.origin_s or start_s
    return LoadRecord(start_s=start_s, end_s=end_s, samples=samples, resources=sampler.frame(),
                      resource_errors=list(sampler.errors), outcome=outcome, interrupted=interrupted,
                      dropped_s=dropped_s, dropped_names=dropped["name"].astype(str).to_numpy(dtype=object),
                      schedule=schedule, faults=events)


def planned_faults(profile: Profile, target: TargetUnderTest) -> list[PlannedFault]:
    """The faults ``profile`` injects into ``target`` (ConfigError when it cannot take them)."""
    if not profile.faults:
        return []
    if target.control is None:
        raise ConfigError(f"profile {profile.name!r} injects faults, but {target.name} was not started by "
                          "archbench (bench run --url), so nothing can kill or pause its services; run "
                          "without --url, or choose a profile without `faults`")
    try:
        return plan_faults(profile.faults, get_topology(target.name), profile.duration, profile.warmup)
    except FaultPlanError as error:
        raise ConfigError(f"profile {profile.name!r}: {error.where}: {error.problem}") from None


def _fault_scheduler(profile: Profile, target: TargetUnderTest) -> FaultScheduler | None:
    faults = planned_faults(profile, target)
    if not faults or target.control is None:
        return None
    return FaultScheduler(target.control, faults)


def faults_phase(profile: Profile, load: LoadRecord, integrity: Integrity,
                 orders_before: int | None) -> FaultsSection | None:
    """Recovery metrics of the faults injected during ``load`` (pure; None without faults)."""
    if not load.faults:
        return None
    checked = integrity.get("checked", True) and integrity["lost"] is not None
    after = integrity["stats"].get("orders") if integrity["stats"] else None
    created = (sum(int(v) for v in after.values()) - orders_before
               if checked and isinstance(after, dict) and orders_before is not None else None)
    dropped = pd.DataFrame({"intended_s": load.dropped_s, "name": load.dropped_names})
    return fault_section(FaultInputs(
        samples=load.samples, events=load.faults, load_start_s=load.start_s, load_end_s=load.end_s,
        warmup_s=profile.warmup, dropped=dropped,
        lost_ids=frozenset(integrity.get("lost_ids", [])) if checked else None,
        stuck_ids=frozenset(integrity.get("not_final_ids", [])) if checked else None,
        orders_created=created,
    ))


def analysis_phase(config: Config, profile: Profile, load: LoadRecord) -> Analysis:
    """Warm-up cut and statistics of the load's samples (pure)."""
    window = Window.after_warmup(load.start_s, load.end_s, profile.warmup)
    users = None if is_open_model(profile.stages) else planned_users(profile.stages,
                                                                     int(profile.duration) + 2)
    return analyse(load.samples, window, min_requests=config.analysis.min_requests,
                   max_error_rate=config.analysis.max_error_rate, users=users,
                   dropped_s=load.dropped_s)


def write_target_files(files: TargetFiles, analysis: Analysis, load: LoadRecord) -> None:
    """timeseries.csv, endpoints.csv and resources.csv of one target (atomically)."""
    write_atomic(files.directory / "timeseries.csv", analysis.timeseries.to_csv(index=False))
    write_atomic(files.directory / "endpoints.csv", endpoints_csv(analysis.endpoints))
    write_atomic(files.directory / "resources.csv", load.resources.to_csv(index=False))


def integrity_phase(context: RunContext, target: TargetUnderTest, seed: SeedResult,
                    tracker: OrderTracker, load: LoadRecord) -> Integrity:
    """Reconcile the acknowledged orders; "not checked" when interrupted or when there are none."""
    config = context.config
    orders = acknowledged_orders(load.samples)
    if load.interrupted:
        tracker.finish(0.0)
        return integrity_unchecked(len(orders), f"interrupted ({load.interrupted}) before the "
                                                "acknowledged orders were reconciled")
    sightings = tracker.finish(config.integrity.timeout)
    if not orders:
        return integrity_unchecked(0, "no orders were acknowledged")
    orders_before = sum(int(v) for v in (seed.stats.get("orders") or {}).values())
    return check_integrity(
        target.url, orders, seed.credentials,
        _login_admin(target.url, target.admin_username, target.admin_password), config.integrity,
        conserved_total=seed.conserved_total, orders_before=orders_before, sightings=sightings,
    )


def cache_counts(before: Any, after: Any) -> CacheStats | None:
    """A cached target's reads between two ``GET /stats`` ``cache`` bodies (pure; None when the
    target has no cache). Counts that went down (Redis restarted and lost them) count from 0."""
    if not isinstance(after, dict):
        return None
    start = before if isinstance(before, dict) else {}
    counts = {}
    for name in ("hits", "misses", "bypassed"):
        now, then = int(after.get(name) or 0), int(start.get(name) or 0)
        counts[name] = now - then if now >= then else now
    reads = sum(counts.values())
    return CacheStats(kind=str(after.get("kind", "redis")), hits=counts["hits"],
                      misses=counts["misses"], bypassed=counts["bypassed"],
                      hit_ratio=counts["hits"] / reads if reads else None)


def measure_target(context: RunContext, target: TargetUnderTest, timings: dict[str, float]) -> TargetResult:
    """Seed, load, analyse and reconcile ``target``; write its files; return its result.

    A signal during load turns into a partial result (invalid, integrity not checked, the
    acknowledged orders counted from the samples), raised as ``RunInterrupted``.
    """
    config = context.config
    files = TargetFiles.of(context.run_dir, target.files_name)
    seed = seed_phase(context, target, timings)
    tracker = OrderTracker(target.url, poll_interval_s=config.integrity.poll_interval).start()
    settings = ScenarioSettings.from_config(config.scenario, seed, context.profile,
                                            samples_dir=str(files.samples), order_socket=tracker.address,
                                            **scenario_options(generator_hosts(config)))
    try:
        load = load_phase(context, target, settings, files, timings)
        clock = time.monotonic()
        analysis = analysis_phase(config, context.profile, load)
        timings["analysis_s"] = time.monotonic() - clock
    except BaseException:
        tracker.finish(0.0)  # its thread, loop and socket end with the measurement
        raise
    write_target_files(files, analysis, load)
    clock = time.monotonic()
    integrity = integrity_phase(context, target, seed, tracker, load)
    timings["integrity_s"] = time.monotonic() - clock
    shutil.rmtree(files.samples, ignore_errors=True)  # kept compressed in samples.parquet
    orders_before = sum(int(v) for v in (seed.stats.get("orders") or {}).values())
    faults = faults_phase(context.profile, load, integrity, orders_before)
    result = assemble(config, context.profile, target, load, analysis, integrity, faults)
    cache = cache_counts(seed.stats.get("cache"), (integrity["stats"] or {}).get("cache"))
    if cache is not None:
        result["cache"] = cache
    if load.interrupted:
        raise RunInterrupted(result, load.interrupted)
    return result


def validity(config: Config, profile: Profile, load: LoadRecord, analysis: Analysis,
             integrity: Integrity) -> Validity:
    """Whether the result means anything: the analysis' verdict, how load ended, orders placed."""
    problems: list[str] = []
    if load.interrupted:
        problems.append(f"interrupted ({load.interrupted}): partial measurement")
    outcome = load.outcome
    if outcome is not None:
        early = load.start_s + profile.duration - outcome.end_s
        if outcome.timed_out:
            problems.append(f"Locust did not stop by itself and was killed; see {outcome.log}")
        elif outcome.exit_code not in (0, None) or early > 2.0:
            problems.append(f"the load generator stopped {early:.0f}s early (exit code "
                            f"{outcome.exit_code}); see {outcome.log}")
        problems += outcome.generator_problems  # distributed: a worker missing or saturated
    weights = ScenarioSettings.weights_of(config.scenario)
    if not any(weights.values()):
        problems.append("every task weight in [scenario] is 0: the shoppers did nothing")
    elif weights["place_order"] > 0 and integrity["acknowledged"] == 0 and not load.interrupted:
        problems.append("the scenario places orders (scenario.place_order > 0) but none was "
                        "acknowledged: nothing was written, so integrity proves nothing")
    reasons = [*problems, *analysis.valid["reasons"]]
    return Validity(ok=not reasons, reasons=reasons)


def assemble(config: Config, profile: Profile, target: TargetUnderTest, load: LoadRecord,
             analysis: Analysis, integrity: Integrity, faults: FaultsSection | None = None) -> TargetResult:
    """The ``TargetResult`` of one target from its phase records (pure: no I/O, no clock).

    ``faults``: the recovery metrics of a profile's fault schedule (``faults_phase``).
    """
    relative = Path(target.files_name)
    window = analysis.window
    measured_from, measured_to = window.start_s - load.start_s, window.end_s - load.start_s
    resources = load.resources
    cpu = config.cpu
    result = TargetResult(
        target=target.name, backend=target.backend, url=target.url, services=target.services,
        cpu_budget={"target_cpus": cpu.target_cpus if target.backend != "external" else "",
                    "generator_cpus": cpu.generator_cpus},
        profile=profile_dict(profile), started_at=_iso(load.start_s),
        duration_s=window.duration_s, summary=analysis.summary, endpoints=analysis.endpoints,
        timeseries=str(relative / "timeseries.csv"), endpoints_csv=str(relative / "endpoints.csv"),
        samples=str(relative / "samples.parquet"),
        generator=generator_info(resources, measured_from, measured_to, cpus=cpu.generator_cpus,
                                 processes=cpu.generator_processes, bound_pct=cpu.generator_bound_pct,
                                 schedule=load.schedule),
        integrity=integrity, valid=validity(config, profile, load, analysis, integrity),
    )
    if len(resources):
        services = [s for s in summarise(resources, measured_from, measured_to) if s["name"] != GENERATOR]
        result["resources"] = {"csv": str(relative / "resources.csv"), "services": services,
                               "memory_measure": MEMORY_BY_BACKEND.get(target.backend, "pss")}
    if load.resource_errors:
        result["resources"] = {**result.get("resources", {}), "errors": load.resource_errors}
    if load.outcome is not None and load.outcome.workers:
        result["generator"]["workers"] = [dict(worker) for worker in load.outcome.workers]
    if faults is not None:
        result["faults"] = faults
        failed = [f"fault {e['label']} at {e['planned_s']:g}s failed: {e['error']}" for e in load.faults
                  if e["error"]]
        if failed:
            result["valid"] = Validity(ok=False, reasons=[*result["valid"]["reasons"], *failed])
    return result
