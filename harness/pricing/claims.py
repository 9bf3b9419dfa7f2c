"""Claims check: the article's numbers (``[claims]`` in bench.toml) against measurements.

Pure functions (no I/O). A verdict says where the measured value lies relative to
the claimed closed range ``[low, high]``: ``below``, ``within`` or ``above``
(``unknown`` when nothing was measured or nothing is claimed). Whether that is good
depends on the metric: ``direction`` says which way is better.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from harness.config import Config
from harness.pricing.cost import cost_for_target
from harness.results import TargetResult

Verdict = Literal["below", "within", "above", "unknown"]
LATENCY_METRICS = ("mean", "p50", "p90", "p95", "p99", "p99_9", "max")


def verdict(measured: float | None, low: float, high: float) -> Verdict:
    """Where ``measured`` lies relative to the closed range ``[low, high]``."""
    if measured is None or (low == 0 and high == 0):
        return "unknown"
    if measured < low:
        return "below"
    if measured > high:
        return "above"
    return "within"


def latency_of(target: TargetResult, metric: str) -> float | None:
    """The measured total latency (ms) for ``metric`` ("p50", "p95", "mean", ...)."""
    if metric not in LATENCY_METRICS:
        return None
    summary: dict[str, Any] = dict(target["summary"])
    value = summary.get(f"{metric}_ms")
    return None if value is None else float(value)


def check_claims(target: TargetResult, config: Config) -> list[dict[str, Any]]:
    """One row per claimed metric (rps, latency, monthly cost) for ``target``.

    Each row: ``metric``, ``label``, ``unit``, ``claimed`` [low, high], ``measured``,
    ``verdict``, ``direction``, ``cpu_budget`` (the CPU set the target was measured on),
    ``instances`` (what the article priced), ``source``, ``note``. Empty when the
    article claims nothing for this target.
    """
    claim = config.claims.targets.get(target["target"])
    if claim is None:
        return []
    metric = config.claims.latency_metric
    cost = target.get("cost") or cost_for_target(target, config)
    budget = dict(target.get("cpu_budget") or {})
    cpu_budget = budget.get("target_cpus", "")
    common = {"cpu_budget": cpu_budget, "instances": claim.instances, "source": config.claims.source}
    monthly = cost["provisioned"]["monthly_usd"]
    rows: list[dict[str, Any]] = [
        {
            "metric": "rps",
            "label": "Throughput",
            "unit": "req/s",
            "claimed": list(claim.rps),
            "measured": float(target["summary"]["rps"]),
            "verdict": verdict(float(target["summary"]["rps"]), *claim.rps),
            "direction": "higher is better",
            "note": f"measured on CPU set {cpu_budget!r}" if cpu_budget else "",
            **common,
        },
        {
            "metric": f"latency_{metric}",
            "label": f"Response time ({metric})",
            "unit": "ms",
            "claimed": list(claim.latency_ms),
            "measured": latency_of(target, metric),
            "verdict": verdict(latency_of(target, metric), *claim.latency_ms),
            "direction": "lower is better",
            "note": "" if metric in LATENCY_METRICS else f"unknown latency metric {metric!r}",
            **common,
        },
        {
            "metric": "monthly_usd",
            "label": "Monthly cost (provisioned, modelled)",
            "unit": "USD",
            "claimed": list(claim.monthly_usd),
            "measured": float(monthly),
            "verdict": verdict(float(monthly), *claim.monthly_usd),
            "direction": "lower is better",
            "note": _cost_note(cost, claim.rps[0]),
            **common,
        },
    ]
    return rows


def _cost_note(cost: dict[str, Any], claimed_low_rps: float) -> str:
    """Monthly cost of serving the article's lowest claimed RPS at the measured capacity."""
    rps = float(cost.get("successful_rps") or 0.0)
    if rps <= 0 or claimed_low_rps <= 0:
        return "measured stack as provisioned"
    replicas = -(-claimed_low_rps // rps)
    usd = replicas * float(cost["provisioned"]["monthly_usd"])
    return (
        f"measured stack as provisioned; serving {claimed_low_rps:g} req/s would take "
        f"{int(replicas)} replica(s), about ${usd:,.0f}/month"
    )


def check_ordering(targets: dict[str, TargetResult], config: Config) -> dict[str, Any]:
    """Does the article's throughput ordering of the patterns hold in this run?

    The claimed order sorts targets by the midpoint of their claimed RPS range
    (monolith < microservices < event-driven in the article); the measured order
    sorts by measured RPS. Returns ``claimed_order``, ``measured_order``, ``pairs``
    (each adjacent claimed pair with both measured RPS and whether it holds) and
    ``holds`` (True/False, or None with fewer than two comparable targets).
    """
    claimed = [
        name for name in targets if name in config.claims.targets and any(config.claims.targets[name].rps)
    ]
    claimed.sort(key=lambda name: sum(config.claims.targets[name].rps) / 2)
    measured_rps = {name: float(targets[name]["summary"]["rps"]) for name in claimed}
    measured_order = sorted(claimed, key=lambda name: measured_rps[name])
    pairs = [
        {
            "lower": low,
            "higher": high,
            "lower_rps": measured_rps[low],
            "higher_rps": measured_rps[high],
            "holds": measured_rps[low] < measured_rps[high],
        }
        for low, high in itertools.pairwise(claimed)
    ]
    return {
        "claimed_order": claimed,
        "measured_order": measured_order,
        "measured_rps": measured_rps,
        "pairs": pairs,
        "holds": all(p["holds"] for p in pairs) if pairs else None,
    }
