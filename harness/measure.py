"""Measure one running target: seed -> load -> analysis -> integrity -> one TargetResult.

``measure_target`` works on a URL plus optional resource readers, so it serves both a
deployment started by a backend and an already-running service (``bench run --url``).
It writes the target's files (samples.parquet, timeseries/endpoints/resources CSV) under
``run_dir/<target>/`` and returns the result; the caller records it in results.json.
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
import pandas as pd
from rich.console import Console

from harness.analysis import FAILURE_CLASSES, Window, analyse, planned_users
from harness.backends.base import ResourceReading
from harness.config import Config, Profile
from harness.integrity import OrderTracker, acknowledged_orders, check_integrity
from harness.load import LoadPlan, run_load
from harness.resources import GENERATOR, ResourceSampler, generator_info, summarise
from harness.results import Integrity, LatencyStats, ServiceInfo, TargetResult, write_atomic
from harness.samples import read_samples, write_parquet
from harness.seed import admin_token, seed_target
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


def profile_dict(name: str, profile: Profile) -> dict[str, Any]:
    """The resolved profile as results.json records it."""
    return {
        "name": name, "description": profile.description, "warmup_s": profile.warmup,
        "duration_s": profile.duration, "rate": profile.rate,
        "stages": [{"duration_s": s.duration, "users": s.users, "spawn_rate": s.spawn_rate}
                   for s in profile.stages],
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


def _integrity_skipped(reason: str) -> Integrity:
    return Integrity(acknowledged=0, found=0, lost=0, final={}, not_final=0, time_to_final=None,
                     stats={}, ok=False, reasons=[reason])


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def measure_target(config: Config, target: TargetUnderTest, profile_name: str, profile: Profile,
                   run_dir: Path, console: Console, timings: dict[str, float]) -> TargetResult:
    """Seed, load, analyse and reconcile ``target``; write its files; return its result.

    A KeyboardInterrupt during load is turned into a partial result (marked invalid and
    with integrity unchecked) that is returned with ``interrupted`` in ``valid.reasons``;
    the caller re-raises after recording it.
    """
    relative = Path(target.name)
    target_dir = run_dir / relative
    work = target_dir / WORK_DIR
    samples_dir = work / LIVE_SAMPLES_DIR
    clock = time.monotonic()
    seed = seed_target(target.url, config.seed, target.admin_username, target.admin_password,
                       timeout_s=config.scenario.request_timeout * 3)
    timings["seed_s"] = time.monotonic() - clock
    console.print(f"  seeded {len(seed.product_ids)} products and {len(seed.credentials)} users "
                  f"in {seed.seconds:.1f}s")
    orders_before = sum(int(v) for v in (seed.stats.get("orders") or {}).values())
    tracker = OrderTracker(target.url, poll_interval_s=config.integrity.poll_interval).start()
    scenario = config.scenario
    settings = ScenarioSettings(
        credentials=seed.credentials, product_ids=seed.product_ids,
        weights={"list_products": scenario.list_products, "view_product": scenario.view_product,
                 "place_order": scenario.place_order, "read_order": scenario.read_order,
                 "login": scenario.login},
        page_size=scenario.page_size, max_items_per_order=scenario.max_items_per_order,
        request_timeout_s=scenario.request_timeout,
        stages=[{"duration": s.duration, "users": s.users, "spawn_rate": s.spawn_rate} for s in profile.stages],
        rate=profile.rate, samples_dir=str(samples_dir), order_socket=tracker.address,
    )
    sampler = ResourceSampler(read=target.read_resources, processes=dict(target.pids))
    sampler.start()

    def started(pid: int, start_s: float) -> None:
        sampler.origin_s = start_s
        sampler.processes[GENERATOR] = pid

    plan = LoadPlan(target=target.name, url=target.url, profile_name=profile_name, profile=profile,
                    settings=settings, workdir=work, generator_cpus=config.cpu.generator_cpus,
                    processes=config.cpu.generator_processes)
    interrupted = False
    clock = time.monotonic()
    outcome = None
    try:
        outcome = run_load(plan, console=console, on_started=started)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sampler.stop()
        timings["load_s"] = time.monotonic() - clock
    (work / "scenario.json").unlink(missing_ok=True)  # it holds the shoppers' passwords
    clock = time.monotonic()
    samples = read_samples(samples_dir)
    write_parquet(samples, target_dir / "samples.parquet")
    if outcome is not None:
        start_s, end_s = outcome.start_s, outcome.end_s
    else:  # interrupted: the window is what was recorded
        start_s = float(samples["start_s"].min()) if len(samples) else time.time()
        end_s = float(samples["start_s"].max()) + 1e-6 if len(samples) else start_s
        sampler.origin_s = sampler.origin_s or start_s
    window = Window.after_warmup(start_s, end_s, profile.warmup)
    analysis = analyse(samples, window, min_requests=config.analysis.min_requests,
                       max_error_rate=config.analysis.max_error_rate,
                       users=planned_users(settings.stages, int(profile.duration) + 2))
    timings["analysis_s"] = time.monotonic() - clock
    write_atomic(target_dir / "timeseries.csv", analysis.timeseries.to_csv(index=False))
    write_atomic(target_dir / "endpoints.csv", endpoints_csv(analysis.endpoints))
    resources = sampler.frame()
    write_atomic(target_dir / "resources.csv", resources.to_csv(index=False))
    measured_from, measured_to = window.start_s - start_s, window.end_s - start_s
    services = [s for s in summarise(resources, measured_from, measured_to) if s["name"] != GENERATOR]
    generator = generator_info(resources, measured_from, measured_to, cpus=config.cpu.generator_cpus,
                               processes=config.cpu.generator_processes,
                               bound_pct=config.cpu.generator_bound_pct)
    clock = time.monotonic()
    if interrupted:
        tracker.finish(0.0)
        integrity = _integrity_skipped("interrupted: integrity was not checked")
    else:
        sightings = tracker.finish(config.integrity.timeout)
        integrity = check_integrity(
            target.url, acknowledged_orders(samples), seed.credentials,
            _login_admin(target.url, target.admin_username, target.admin_password), config.integrity,
            conserved_total=seed.conserved_total, orders_before=orders_before, sightings=sightings,
        )
    timings["integrity_s"] = time.monotonic() - clock
    valid = analysis.valid
    if outcome is not None:
        early = start_s + profile.duration - outcome.end_s
        problems = []
        if outcome.timed_out:
            problems.append(f"Locust did not stop by itself and was killed; see {outcome.log}")
        elif outcome.exit_code not in (0, None) or early > 2.0:
            problems.append(f"the load generator stopped {early:.0f}s early (exit code "
                            f"{outcome.exit_code}); see {outcome.log}")
        if problems:
            valid = {"ok": False, "reasons": [*problems, *valid["reasons"]]}
    if interrupted:
        valid = {"ok": False, "reasons": ["interrupted (Ctrl-C): partial measurement", *valid["reasons"]]}
    shutil.rmtree(samples_dir, ignore_errors=True)  # kept compressed in samples.parquet
    result = TargetResult(
        target=target.name, backend=target.backend, url=target.url, services=target.services,
        cpu_budget={"target_cpus": config.cpu.target_cpus if target.backend != "external" else "",
                    "generator_cpus": config.cpu.generator_cpus},
        profile=profile_dict(profile_name, profile), started_at=_iso(start_s),
        duration_s=window.duration_s, summary=analysis.summary, endpoints=analysis.endpoints,
        timeseries=str(relative / "timeseries.csv"), endpoints_csv=str(relative / "endpoints.csv"),
        samples=str(relative / "samples.parquet"),
        generator=generator, integrity=integrity, valid=valid,
    )
    if len(resources):
        result["resources"] = {"csv": str(relative / "resources.csv"), "services": services}
    if sampler.errors:
        result["resources"] = {**result.get("resources", {}), "errors": sampler.errors}
    if interrupted:
        raise _Interrupted(result)
    return result


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during load, carrying the partial result measured so far."""

    def __init__(self, result: TargetResult) -> None:
        super().__init__()
        self.result = result
