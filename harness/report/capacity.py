"""The report's Capacity section: what ``bench capacity`` found, as rows and figure data (pure).

A target's ``capacity`` (``harness.results.CapacityResult``) holds every step of its
search. This module turns those into the ranked comparison (by capacity, with the
bracket as its interval), one table row per step, the SLO's latency line for the
hockey-stick plot, and the sentence that says which latency is which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import BenchError
from harness.gate.thresholds import parse_threshold
from harness.results import TargetResult

RESPONSE_TIME = ("Response time is measured from each request's intended start (its place in the "
                 "arrival schedule), so time spent waiting behind a stall or a full queue counts: it is "
                 "corrected for coordinated omission. Service time is measured from the actual send and "
                 "leaves that waiting out.")
CLOSED_MODEL = ("Closed-model load: latency is measured from the actual send (each user waits for an "
                "answer before its next request, so no schedule can fall behind).")


def has_capacity(targets: Mapping[str, TargetResult]) -> bool:
    """Whether any target of the run has a capacity search."""
    return any(t.get("capacity") for t in targets.values())


def latency_note(targets: Mapping[str, TargetResult]) -> str:
    """One or two sentences: which start the run's latencies are measured from."""
    models = {(t.get("profile") or {}).get("model") or "closed" for t in targets.values()}
    notes = [RESPONSE_TIME] if "open" in models else []
    if "closed" in models:
        notes.append(CLOSED_MODEL)
    return " ".join(notes)


def capacity_label(capacity: Mapping[str, Any] | None) -> str:
    """The capacity as people read it, bounds labelled: ``400/s (knee between 400 and 440/s)``,
    ``at least 300/s (generator-limited)``, ``below the lowest rate tried (50/s)``."""
    if not capacity:
        return "no capacity search"
    kind, found, low, high = (capacity.get(k) for k in ("kind", "capacity_rps", "low_rps", "high_rps"))
    if kind == "below_lowest" or found is None:
        return f"below the lowest rate tried ({_rate(high)})" if high is not None else "below the lowest rate tried"
    if kind == "at_least":
        why = "generator-limited" if capacity.get("generator_limited") else "the SLO held at every rate tried"
        return f"at least {_rate(found)} ({why})"
    if low is not None and high is not None:
        return f"{_rate(found)} (knee between {low:,.6g} and {_rate(high)})"
    return _rate(found)


def _rate(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.6g}/s"


def slo_latency(capacity: Mapping[str, Any] | None) -> tuple[str, float] | None:
    """(condition, limit in ms) of the SLO's latency condition, e.g. ("p99 < 200ms", 200.0); None if none."""
    for expression in (capacity or {}).get("slo") or []:
        try:
            threshold = parse_threshold(str(expression))
        except BenchError:
            continue
        if threshold.metric.kind == "latency":
            return threshold.condition, threshold.limit
    return None


def capacity_ranking(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """Targets by capacity at the SLO, best first (no figure last).

    Each row: ``target``, ``capacity_rps`` (None: below the lowest rate tried), ``low_rps``,
    ``high_rps`` (the bracket), ``kind``, ``label``, ``pct_of_best``, ``p99_ms`` (at
    capacity, from the intended start), ``per_million`` (USD per million requests at
    capacity, reserved CPU), ``limited_by``, ``slo``, ``flags``.
    """
    searched: list[tuple[str, TargetResult, Mapping[str, Any]]] = [
        (name, t, t["capacity"]) for name, t in targets.items() if t.get("capacity")]
    best = max((float(c["capacity_rps"]) for _, _, c in searched if c.get("capacity_rps") is not None), default=0.0)
    order = sorted(searched, key=lambda item: (item[2].get("capacity_rps") is None,
                                               -float(item[2].get("capacity_rps") or 0.0)))
    rows = []
    for name, target, capacity in order:
        found = capacity.get("capacity_rps")
        cost = target.get("cost") or {}
        flags = {"at_least": ["lower bound"], "below_lowest": ["upper bound"]}.get(str(capacity.get("kind")), [])
        if capacity.get("generator_limited"):
            flags.append("generator-limited")
        rows.append({
            "target": name, "capacity_rps": found, "low_rps": capacity.get("low_rps"),
            "high_rps": capacity.get("high_rps"), "kind": capacity.get("kind"), "label": capacity_label(capacity),
            "pct_of_best": 100.0 * float(found) / best if found is not None and best > 0 else None,
            "p99_ms": capacity.get("p99_at_capacity_ms"),
            "per_million": (cost.get("reserved") or cost.get("provisioned") or {}).get("per_million_usd"),
            "limited_by": str(capacity.get("limited_by") or "unknown"),
            "slo": " and ".join(str(s) for s in capacity.get("slo") or []), "flags": flags,
        })
    return rows


def step_rows(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """One row per step of every search, in the order tried; ``at_capacity`` marks the step
    whose figures stand for the target (the highest rate that held)."""
    rows = []
    for name, target in targets.items():
        capacity = target.get("capacity")
        if not capacity:
            continue
        found = capacity.get("capacity_rps")
        held = [s for s in capacity.get("steps") or [] if s.get("verdict") == "holds" and s.get("offered_rps") == found]
        chosen = held[-1] if held else None
        for index, step in enumerate(capacity.get("steps") or []):
            rows.append({"target": name, "index": index + 1, "at_capacity": step is chosen, **step,
                         "generator_bound": bool((step.get("generator") or {}).get("bound"))})
    return rows


def curves(targets: Mapping[str, TargetResult]) -> dict[str, list[Mapping[str, Any]]]:
    """Every searched target's steps (the data of the hockey-stick and throughput plots)."""
    return {name: [dict(s) for s in t["capacity"].get("steps") or []] for name, t in targets.items()
            if t.get("capacity")}


def capacity_slo(targets: Mapping[str, TargetResult]) -> tuple[str, float] | None:
    """The latency SLO the searches used (the first searched target's)."""
    return next((found for t in targets.values() if (found := slo_latency(t.get("capacity")))), None)
