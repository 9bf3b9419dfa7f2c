"""The report's first screen: what was asked of the targets, what limited them, who won.

Pure functions over results.json records (and the resource readings already loaded):
the load context line, one bottleneck line per target, the ranked comparison, the
end-to-end order latency, the gate summary, and the display helpers they share
(timestamps, CPU sets, profiles). No files, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from harness.config import Config
from harness.cpus import parse_cpu_list
from harness.errors import ConfigError
from harness.results import TargetResult
from scenarios import plan
from scenarios.plan import Stage

SATURATED = 0.9  # CPU busy fraction (of a cpuset or a service's limit) read as "saturated"
ORDER_ENDPOINT = "POST /orders"
TASKS = (("list_products", "list products"), ("view_product", "view product"), ("place_order", "place order"),
         ("read_order", "read order"), ("login", "login"))


# -- display helpers ----------------------------------------------------------------------


def format_time(value: Any) -> str:
    """An ISO 8601 timestamp for people: ``2026-11-25 18:00:00 UTC`` (seconds, no microseconds)."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = moment.strftime("%Z") if moment.tzinfo is not None else ""
    zone = "UTC" if zone in ("UTC", "UTC+00:00") else zone
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f" {zone}" if zone else "")


def cpu_numbers(cpuset: Any) -> list[int] | None:
    """CPU numbers of a cpuset string ("1", "0-1", "0,2-3"); None when unpinned or unreadable.

    Parsed by ``harness.cpus.parse_cpu_list``, so a CPU list means here what it meant to
    the run; a report never raises on an odd recorded value, it shows it as written.
    """
    try:
        cpus = parse_cpu_list(str(cpuset or ""))
    except ConfigError:
        return None
    return sorted(cpus) or None


def format_cpus(cpuset: Any) -> str:
    """A cpuset for people: ``core 1``, ``cores 0-1``, ``cores 0,2``; ``unpinned`` when empty.

    Several cores are shown as the run recorded them ("0-1" stays "0-1"), not re-formatted.
    """
    numbers = cpu_numbers(cpuset)
    if numbers is None:
        return "unpinned" if not str(cpuset or "").strip() else f"cores {cpuset}"
    return f"core {numbers[0]}" if len(numbers) == 1 else f"cores {str(cpuset).replace(' ', '')}"


def _seconds(value: Any) -> str:
    seconds = float(value or 0.0)
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def stage_of(record: Mapping[str, Any]) -> Stage:
    """A results.json stage record as ``scenarios.plan.Stage`` (tolerant: missing keys are 0).

    Results so far store ``{"duration_s", "users", "spawn_rate"}``; ``Stage``'s own JSON
    form (``{"duration", "users", "spawn_rate", "rate"}``) is read too. A missing spawn
    rate ramps in one second, as Locust does with a spawn rate of the user count.
    """
    users = int(record.get("users") or 0)
    duration = record.get("duration_s", record.get("duration"))
    return Stage(duration=float(duration or 0.0), users=users,
                 spawn_rate=float(record.get("spawn_rate") or users or 1.0), rate=float(record.get("rate") or 0.0))


def stages_of(profile: Mapping[str, Any] | None) -> tuple[Stage, ...]:
    """The stages of a results.json profile record (``()`` when none are recorded)."""
    return tuple(stage_of(record) for record in (profile or {}).get("stages") or [] if isinstance(record, Mapping))


def _format_stage(stage: Stage) -> str:
    if stage.rate > 0:
        return f"{stage.rate:,.6g} req/s for {_seconds(stage.duration)}"
    return f"{stage.users} users (spawn {stage.spawn_rate:g}/s) for {_seconds(stage.duration)}"


def format_stages(profile: Mapping[str, Any]) -> str:
    """The load shape: ``20 users (spawn 10/s) for 23 s`` per stage, joined by ``, then``."""
    return ", then ".join(_format_stage(stage) for stage in stages_of(profile)) or "no stages recorded"


def profile_rate(profile: Mapping[str, Any] | None) -> float:
    """The open-model arrival rate of a profile record (requests/s; 0: closed model).

    Results store it as ``rate`` or per stage (``stages[].rate``, as capacity steps do).
    """
    rate = float((profile or {}).get("rate") or 0.0)
    return rate or max((stage.rate for stage in stages_of(profile)), default=0.0)


def format_profile(profile: Mapping[str, Any] | None) -> str:
    """A resolved profile in one readable line (name, model, stages, warm-up), not a JSON dict."""
    if not profile:
        return "not recorded"
    rate = profile_rate(profile)
    model = (f"open loop at {rate:,.6g} req/s" if rate > 0 else "closed loop, no think time")
    name = profile.get("name") or "unnamed"
    description = f" ({profile['description']})" if profile.get("description") else ""
    return (f"{name}{description}: {model}; {format_stages(profile)}; "
            f"warm-up {_seconds(profile.get('warmup_s'))}")


def task_mix(config: Config) -> str:
    """The scenario's task weights as percentages, largest first: ``view product 41%, ...``."""
    weights = [(label, float(getattr(config.scenario, key))) for key, label in TASKS]
    total = sum(w for _, w in weights) or 1.0
    ordered = sorted((w for w in weights if w[1] > 0), key=lambda w: -w[1])
    return ", ".join(f"{label} {100 * w / total:.0f}%" for label, w in ordered)


def run_profile(targets: Mapping[str, TargetResult], config: Config) -> dict[str, Any] | None:
    """The profile the run used: the first target's record, else the configured one (or None)."""
    for target in targets.values():
        if target.get("profile"):
            return dict(target["profile"])
    profile = config.profiles.get(config.run.profile)
    if profile is None:
        return None
    return {"name": config.run.profile, "description": profile.description, "warmup_s": profile.warmup,
            "duration_s": profile.duration, "rate": profile.rate,
            "stages": [{"duration_s": s.duration, "users": s.users, "spawn_rate": s.spawn_rate}
                       for s in profile.stages]}


def load_context(targets: Mapping[str, TargetResult], config: Config) -> str:
    """One line: profile, load model, users or arrival rate, duration, warm-up and task mix."""
    profile = run_profile(targets, config)
    if profile is None:
        return f"load profile not recorded · task mix: {task_mix(config)}"
    searched = capacity_context(targets, profile)
    if searched:
        return f"{searched} · task mix: {task_mix(config)}"
    rate = profile_rate(profile)
    peak = max((stage.users for stage in stages_of(profile)), default=0)
    cap = profile.get("max_in_flight")
    model = (f"open model, arrival rate {rate:,.6g} req/s"
             + (f" (at most {cap} in flight)" if cap else "") if rate > 0
             else f"closed loop, {peak} users, no think time")
    measured = [float(t.get("duration_s") or 0.0) for t in targets.values()]
    duration = (f"{_seconds(max(measured))} measured" if any(measured)
                else f"{_seconds(profile.get('duration_s'))} of load")
    return (f"profile {profile.get('name') or 'unnamed'} · {model} · {format_stages(profile)} · "
            f"{duration} after {_seconds(profile.get('warmup_s'))} warm-up · task mix: {task_mix(config)}")


def capacity_context(targets: Mapping[str, TargetResult], profile: Mapping[str, Any]) -> str:
    """The load line of a ``bench capacity`` run ("" for other runs): steps, rates tried, SLO."""
    searches = [t["capacity"] for t in targets.values() if t.get("capacity")]
    if not searches:
        return ""
    rates = [float(s["offered_rps"]) for c in searches for s in c.get("steps") or []]
    tried = f"offered rates {min(rates):,.6g}–{max(rates):,.6g} req/s" if rates else "no step recorded"
    step = next(iter(stages_of(profile)), None)
    length = f"steps of {_seconds(step.duration)} after {_seconds(profile.get('warmup_s'))} warm-up" if step else ""
    arrival = profile.get("arrival") or "constant"
    slo = " and ".join(str(s) for s in searches[0].get("slo") or []) or "not recorded"
    return " · ".join(p for p in (f"capacity search, open model ({arrival} arrivals)", length, tried,
                                  f"SLO {slo} (latency from the intended start)") if p)


# -- bottleneck ---------------------------------------------------------------------------


def _little(target: TargetResult) -> str:
    """``latency ≈ users / RPS`` (Little's law, closed loop without think time), or ""."""
    profile = target.get("profile") or {}
    if profile_rate(profile) > 0 or profile.get("model") == "open":
        return ""
    users = max((stage.users for stage in stages_of(profile)), default=0)
    rps = float((target.get("summary") or {}).get("rps") or 0.0)
    if not users or rps <= 0:
        return ""
    mean = (target.get("summary") or {}).get("mean_ms")
    measured = f", measured mean {mean:,.0f} ms" if isinstance(mean, (int, float)) else ""
    return f"; latency ≈ users / RPS = {users} / {rps:,.0f} = {1000 * users / rps:,.0f} ms{measured}"


def bottleneck(target: TargetResult) -> dict[str, str]:
    """What limited ``target``: ``kind`` (generator/cpuset/service/none/unknown) and ``text``.

    Reads the generator flag first (a saturated generator caps every other reading),
    then the services' mean CPU over the measured window against the target's cpuset
    (100% = one core) and against each service's own CPU limit.
    """
    generator = target.get("generator") or {}
    if generator.get("bound"):
        reason = generator.get("reason") or "the load generator saturated its CPU"
        return {"kind": "generator", "text": f"generator-limited: {reason}; give the generator more cores "
                                             "(cpu.generator_cpus, cpu.generator_processes)"}
    services = [s for s in (target.get("resources") or {}).get("services") or []
                if isinstance(s.get("cpu_mean_pct"), (int, float))]
    if not services:
        return {"kind": "unknown", "text": "not measured: no resource readings for this target"}
    busiest = sorted(services, key=lambda s: -float(s["cpu_mean_pct"]))
    shares = ", ".join(f"{s['name']} {float(s['cpu_mean_pct']):.0f}%" for s in busiest[:3])
    cpuset = (target.get("cpu_budget") or {}).get("target_cpus")
    cores = cpu_numbers(cpuset)
    if cores:
        busy = sum(float(s["cpu_mean_pct"]) for s in services) / (100.0 * len(cores))
        if busy >= SATURATED:
            noun = "this core's" if len(cores) == 1 else "these cores'"
            return {"kind": "cpuset", "text": f"target {format_cpus(cpuset)} {100 * busy:.0f}% busy ({shares}): "
                                              f"throughput is {noun} capacity{_little(target)}"}
    limits = {s.get("name"): float(s.get("cpus") or 0.0) for s in target.get("services") or []}
    for service in busiest:
        limit = limits.get(service["name"]) or 0.0
        if limit > 0 and float(service["cpu_mean_pct"]) >= SATURATED * 100 * limit:
            return {"kind": "service", "text": f"{service['name']} {float(service['cpu_mean_pct']):.0f}% of "
                                               f"its {limit:g} CPU limit: throughput is this service's capacity"
                                               f"{_little(target)}"}
    where = f"target {format_cpus(cpuset)} {100 * busy:.0f}% busy" if cores else "target unpinned"
    return {"kind": "none", "text": f"no CPU saturated ({where}; {shares}): the load, not the target, "
                                    "set the throughput"}


# -- ranked comparison --------------------------------------------------------------------


def _rps(target: TargetResult) -> float | None:
    value = (target.get("summary") or {}).get("rps")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def ranking(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """Targets by RPS, best first: ``target``, ``rps``, ``pct_of_best``, ``p95_ms``, ``flags``.

    Targets without a measured RPS come last with ``rps`` None. ``flags`` name what
    makes a bar less than a capacity figure (invalid, generator-bound, interrupted).
    """
    measured = [(name, _rps(t)) for name, t in targets.items()]
    best = max((rps for _, rps in measured if rps is not None), default=0.0)
    order = sorted(measured, key=lambda item: (item[1] is None, -(item[1] or 0.0)))
    rows = []
    for name, rps in order:
        target = targets[name]
        valid = target.get("valid") or {"ok": True, "reasons": []}
        flags = []
        if any("interrupted" in str(r) for r in valid.get("reasons") or []):
            flags.append("interrupted")
        elif not valid.get("ok", True):
            flags.append("invalid")
        if (target.get("generator") or {}).get("bound"):
            flags.append("generator-bound")
        rows.append({
            "target": name, "rps": rps, "p95_ms": (target.get("summary") or {}).get("p95_ms"),
            "pct_of_best": (100.0 * rps / best) if rps is not None and best > 0 else None,
            "flags": flags,
        })
    return rows


# -- end-to-end order latency -------------------------------------------------------------


def _endpoint(target: TargetResult, name: str) -> Mapping[str, Any]:
    return next((e for e in target.get("endpoints") or [] if e.get("name") == name), {})


def _add(first: Any, second: Any) -> float | None:
    if isinstance(first, (int, float)) and isinstance(second, (int, float)):
        return float(first) + float(second)
    return None


def order_latency(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """Per target, how long until an order is final (ms): p50/p95/p99 and how it was measured.

    Synchronous targets: ``POST /orders`` latency (the order is final when answered).
    Event-driven: acknowledgement latency plus time-to-final, added per percentile (no
    per-order pairing is recorded), with the tracked sample size and poll resolution.
    """
    rows = []
    for name, target in targets.items():
        ack = _endpoint(target, ORDER_ENDPOINT)
        integrity = target.get("integrity") or {}
        final: Mapping[str, Any] = integrity.get("time_to_final") or {}
        row: dict[str, Any] = {"target": name, "async": bool(final), "ack": {}, "final": {}, "total": {}}
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            row["ack"][key] = ack.get(key)
            row["final"][key] = final.get(key)
            row["total"][key] = _add(ack.get(key), final.get(key)) if final else ack.get(key)
        row["how"] = _order_note(ack, integrity, final)
        rows.append(row)
    return rows


def _order_note(ack: Mapping[str, Any], integrity: Mapping[str, Any], final: Mapping[str, Any] | None) -> str:
    if not ack:
        return f"not measured: no {ORDER_ENDPOINT} requests in the measured window"
    if not final:
        return f"{ORDER_ENDPOINT} answered with the final order ({int(ack.get('requests') or 0):,} orders)"
    tracked = int(final.get("count") or 0)
    acknowledged = int(integrity.get("acknowledged") or 0)
    resolution = final.get("resolution_ms")
    precision = (f"poll resolution ±{float(resolution):,.1f} ms (median gap between the last pending look "
                 "and the final one)" if isinstance(resolution, (int, float))
                 else "poll resolution not recorded")
    return (f"acknowledgement ({ORDER_ENDPOINT}, 202) + time to final status; time to final from "
            f"{tracked:,} tracked of {acknowledged:,} acknowledged orders (a sample polled during load); "
            f"{precision}; percentiles added, as no per-order pairing is recorded")


# -- users over time ----------------------------------------------------------------------


def planned_users(stages: Sequence[Mapping[str, Any]], seconds: int) -> list[int]:
    """Users the profile's ``stages`` (results.json records, see ``stage_of``) ask for at each
    whole second 0..seconds-1: ``scenarios.plan.planned_users``, the run's own plan."""
    return plan.planned_users([stage_of(record) for record in stages], seconds)


def users_over_time(target: TargetResult, seconds: Sequence[float], recorded: Sequence[float] | None) -> np.ndarray:
    """Users at each of ``seconds`` (since load start): the recorded column when it has values,
    else the plan derived from the profile's stages (ramping at each stage's spawn rate)."""
    if recorded is not None and len(recorded) == len(seconds) and np.nansum(np.asarray(recorded, float)) > 0:
        return np.asarray(recorded, dtype=float)
    stages = stages_of(target.get("profile"))
    if not stages or not len(seconds):
        return np.zeros(len(seconds))
    planned = plan.planned_users(stages, int(max(seconds)) + 1)
    return np.asarray([planned[min(max(int(t), 0), len(planned) - 1)] for t in seconds], dtype=float)


# -- gate ---------------------------------------------------------------------------------


def _first(record: Mapping[str, Any], *keys: str) -> Any:
    return next((record[key] for key in keys if record.get(key) not in (None, "")), None)


def gate_summary(raw: Any) -> dict[str, Any] | None:
    """``gate.json`` as display rows (tolerant: missing keys become "–"); None when absent.

    Returns ``status`` (PASS/FAIL/COULD NOT EVALUATE or what the file says), ``exit_code``
    and ``checks``: name, scope (target and endpoint), metric, limit (op and limit),
    value, verdict, detail.
    """
    if not isinstance(raw, Mapping):
        return None
    checks = []
    for check in raw.get("checks") or []:
        if not isinstance(check, Mapping):
            continue
        scope = " ".join(str(p) for p in (check.get("target"), check.get("endpoint")) if p) or "run"
        op, limit = check.get("op"), _first(check, "limit", "threshold")
        verdict = str(_first(check, "verdict", "status") or "unknown").lower()
        checks.append({
            "name": str(_first(check, "name", "check") or "–"), "scope": scope,
            "metric": str(check.get("metric") or "–"),
            "limit": " ".join(str(p) for p in (op, limit) if p is not None) or "–",
            "value": str(_first(check, "value", "measured", "measured_value") or "–"),
            "verdict": verdict, "detail": str(check.get("detail") or ""),
            "class": {"pass": "ok", "fail": "bad"}.get(verdict, "warn"),
        })
    status = str(_first(raw, "status", "outcome", "verdict") or "unknown").upper()
    exit_code = raw.get("exit_code")
    found = raw.get("baseline")
    baseline: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    against = " ".join(p for p in (str(baseline.get("name") or ""),
                                   f"(run {baseline['run_id']})" if baseline.get("run_id") else "") if p)
    return {"status": status, "exit_code": exit_code if isinstance(exit_code, int) else None, "checks": checks,
            "class": {"PASS": "ok", "FAIL": "bad"}.get(status, "warn"), "baseline": against}
