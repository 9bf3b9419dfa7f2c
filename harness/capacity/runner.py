"""Run the capacity search on one deployed target: seed once, then one open-model step per rate.

Each step is the ordinary load stage (``harness.measure.load_phase``) with a one-stage
open-model profile at the rate the search asks for; its samples stay in
``<target>/steps/NN/``. The step's SLO verdict is judged on response times (from the
intended start). The target's result is the highest step that held the SLO (its
summary, endpoints, time series, cost and claims are "at capacity"), plus a
``capacity`` section with every step. Integrity is reconciled once, over the orders
every step acknowledged.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass

import pandas as pd

from harness.analysis import Analysis, response_time_view
from harness.capacity.search import Capacity, CapacitySearch, SearchSettings, StepOutcome
from harness.capacity.slo import judge_step, parse_slo, step_verdict
from harness.config import CapacityConfig, Profile, generator_hosts
from harness.context import RunContext
from harness.cpus import parse_cpu_list
from harness.distributed import scenario_options, with_workers
from harness.errors import ConfigError
from harness.integrity import OrderTracker
from harness.measure import (
    LoadRecord,
    RunInterrupted,
    TargetFiles,
    TargetUnderTest,
    analysis_phase,
    assemble,
    integrity_phase,
    load_phase,
    seed_phase,
)
from harness.resources import GENERATOR, generator_info, summarise
from harness.results import (
    CapacityResult,
    CapacityStep,
    GeneratorInfo,
    ServiceResources,
    TargetResult,
)
from harness.seed import SeedResult
from scenarios.plan import Stage
from scenarios.settings import ScenarioSettings

STEPS_DIR = "steps"


def check_capacity_config(capacity: CapacityConfig) -> SearchSettings:
    """The search settings of ``[capacity]``; ConfigError naming the key when they cannot run."""
    parse_slo(capacity.slo)
    if capacity.step_warmup >= capacity.step_duration:
        raise ConfigError(f"capacity.step_warmup = {capacity.step_warmup:g}s is not shorter than "
                          f"capacity.step_duration = {capacity.step_duration:g}s: nothing would be measured")
    return SearchSettings(start_rate=capacity.start_rate, growth=capacity.growth,
                          tolerance=capacity.tolerance, max_steps=capacity.max_steps,
                          max_rate=capacity.max_rate,
                          min_rate=min(1.0, capacity.start_rate))


def step_profile(capacity: CapacityConfig, rate: float) -> Profile:
    """The one-stage open-model profile of a step at ``rate`` requests/s."""
    return Profile(name=f"capacity@{rate:g}/s", description="capacity search step",
                   warmup=capacity.step_warmup, arrival=capacity.arrival,
                   max_in_flight=capacity.max_in_flight,
                   stages=(Stage(duration=capacity.step_duration, users=1, spawn_rate=1.0, rate=rate),))


@dataclass
class _Step:
    """One finished step: what it ran and what it showed."""

    profile: Profile
    load: LoadRecord
    analysis: Analysis
    record: CapacityStep


def measure_capacity(context: RunContext, target: TargetUnderTest, timings: dict[str, float]) -> TargetResult:
    """The capacity of ``target`` at the SLO of ``[capacity]``, as a ``TargetResult`` at capacity."""
    config, capacity = context.config, context.config.capacity
    search = CapacitySearch(check_capacity_config(capacity))
    seed = seed_phase(context, target, timings)
    tracker = OrderTracker(target.url, poll_interval_s=config.integrity.poll_interval).start()
    steps: list[_Step] = []
    interrupted: str | None = None
    clock = time.monotonic()
    while (rate := search.next_rate()) is not None:
        try:
            step = _run_step(context, target, seed, tracker.address, rate, len(steps))
        except BaseException:
            tracker.finish(0.0)
            raise
        steps.append(step)
        context.console.print(_step_line(step.record))
        if step.load.interrupted:
            interrupted = step.load.interrupted
            break
        search.record(StepOutcome(rate, step.record["verdict"], step.record["generator"]["bound"]))
    timings["capacity_s"] = time.monotonic() - clock
    found = search.result()
    chosen = _at_capacity(steps, found)
    everything = dataclasses.replace(
        chosen.load, samples=pd.concat([s.load.samples for s in steps], ignore_index=True),
        interrupted=interrupted)  # integrity covers every acknowledged order
    integrity = integrity_phase(context, target, seed, tracker, everything)
    result = assemble(config, chosen.profile, target, dataclasses.replace(chosen.load, interrupted=interrupted),
                      chosen.analysis, integrity)
    result["capacity"] = capacity_section(capacity, found, [s.record for s in steps])
    context.console.print(f"  {target.name}: capacity {found.describe()}")
    if interrupted:
        raise RunInterrupted(result, interrupted)
    return result


def _run_step(context: RunContext, target: TargetUnderTest, seed: SeedResult, order_socket: str,
              rate: float, index: int) -> _Step:
    config = context.config
    profile = step_profile(config.capacity, rate)
    step_context = dataclasses.replace(context, profile=profile)
    files = TargetFiles.of(context.run_dir, f"{target.files_name}/{STEPS_DIR}/{index:02d}")
    settings = ScenarioSettings.from_config(config.scenario, seed, profile,
                                            samples_dir=str(files.samples), order_socket=order_socket,
                                            **scenario_options(generator_hosts(config)))
    load = load_phase(step_context, target, settings, files, {})
    shutil.rmtree(files.samples, ignore_errors=True)  # kept compressed in the step's samples.parquet
    analysis = analysis_phase(config, profile, load)
    return _Step(profile, load, analysis, step_record(context, profile, load, analysis, rate))


def step_record(context: RunContext, profile: Profile, load: LoadRecord, analysis: Analysis,
                rate: float) -> CapacityStep:
    """What a step showed (pure): offered and achieved rate, both latencies, SLO checks, CPU."""
    config = context.config
    window = analysis.window
    view = response_time_view(load.samples) if len(load.samples) else load.samples
    summary = analysis.summary
    checks = judge_step(parse_slo(config.capacity.slo), view["start_s"], view["latency_ms"], view["ok"],
                        window=(window.start_s, window.end_s), dropped=summary.get("dropped", 0),
                        seed=int(rate))
    since, until = window.start_s - load.start_s, window.end_s - load.start_s
    cpu = config.cpu
    generator = generator_info(load.resources, since, until, cpus=cpu.generator_cpus,
                               processes=cpu.generator_processes, bound_pct=cpu.generator_bound_pct,
                               schedule=load.schedule)
    if load.outcome is not None:  # distributed: a worker missing or saturated invalidates the step
        generator = with_workers(generator, load.outcome.workers, load.outcome.generator_problems)
    services = [s for s in summarise(load.resources, since, until) if s["name"] != GENERATOR] \
        if len(load.resources) else []
    return CapacityStep(
        offered_rps=rate, achieved_rps=summary["rps"], requests=summary["requests"],
        error_rate=summary["error_rate"], dropped=summary.get("dropped", 0),
        p50_ms=summary["p50_ms"], p99_ms=summary["p99_ms"],
        service_p50_ms=summary.get("service_p50_ms"), service_p99_ms=summary.get("service_p99_ms"),
        verdict="breaks" if load.interrupted else step_verdict(checks),
        checks=[{"condition": c.condition, "measured": c.measured, "low": c.low, "high": c.high,
                 "verdict": c.verdict} for c in checks],
        generator=generator, services=services,
        limited_by=limiting_resource(services, generator, len(parse_cpu_list(cpu.target_cpus))),
    )


SATURATED = 0.9  # of the CPU a budget offers: beyond it, that budget is the bottleneck


def limiting_resource(services: list[ServiceResources], generator: GeneratorInfo,
                      target_cores: int) -> str:
    """What saturated at this step (pure): the generator, the target's cores, or the busiest service.

    Services share the target's cores (``cpu.target_cpus``; 0: not pinned), so when their
    CPU adds up to nearly all of them the cores are the limit, with the busiest named.
    """
    if generator["bound"]:
        return "generator"
    busiest = max(services, key=lambda s: s["cpu_mean_pct"] or 0.0, default=None)
    if busiest is None or not busiest["cpu_mean_pct"]:
        return "unknown"
    name = f"{busiest['name']} ({busiest['cpu_mean_pct']:.0f}% of a core)"
    total = sum(s["cpu_mean_pct"] or 0.0 for s in services)
    if target_cores and total >= SATURATED * 100 * target_cores:
        return f"target cores {total:.0f}% busy (of {100 * target_cores}%); busiest {name}"
    return name


def _at_capacity(steps: list[_Step], found: Capacity) -> _Step:
    """The step whose figures stand for the target: the highest rate that held, else the first."""
    held = [s for s in steps if s.record["verdict"] == "holds" and not s.record["generator"]["bound"]]
    if found.capacity is not None and held:
        return max(held, key=lambda s: s.record["offered_rps"])
    return steps[0]


def capacity_section(capacity: CapacityConfig, found: Capacity, steps: list[CapacityStep]) -> CapacityResult:
    """results.json's ``capacity`` of one target (pure)."""
    at = [s for s in steps if s["offered_rps"] == found.capacity and s["verdict"] == "holds"]
    first_break = min((s for s in steps if s["verdict"] != "holds"), key=lambda s: s["offered_rps"],
                      default=None)
    limiting = first_break or (at[-1] if at else None)
    return CapacityResult(
        slo=list(capacity.slo), kind=found.kind, capacity_rps=found.capacity, low_rps=found.low,
        high_rps=found.high, generator_limited=found.generator_limited, reason=found.reason,
        description=found.describe(), latency_from="intended start (response time)",
        p99_at_capacity_ms=at[-1]["p99_ms"] if at else None,
        limited_by=limiting["limited_by"] if limiting else "unknown",
        steps=steps,
    )


def _step_line(step: CapacityStep) -> str:
    p99 = "–" if step["p99_ms"] is None else f"{step['p99_ms']:.0f} ms"
    service = "–" if step["service_p99_ms"] is None else f"{step['service_p99_ms']:.0f} ms"
    return (f"  step {step['offered_rps']:g}/s: achieved {step['achieved_rps']:.0f}/s, p99 {p99} "
            f"(service {service}), errors {step['error_rate']:.2%}, dropped {step['dropped']} -> "
            f"{step['verdict']} (busiest: {step['limited_by']})")
