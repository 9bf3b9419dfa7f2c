"""Claims check: the article's numbers (``[claims]`` in bench.toml) against measurements.

Pure functions (no I/O). A verdict says where the measured value lies relative to
the claimed closed range ``[low, high]``: ``below``, ``within`` or ``above``
(``unknown`` when nothing was measured, nothing is claimed, or a bound cannot decide).
Whether that is good depends on the metric: ``direction`` says which way is better.

What is compared (each row's ``basis`` and ``note`` say it):

- **Throughput**: the capacity at the SLO when the run has a ``bench capacity`` search
  (the article's figures are capacities), else the throughput at the operating point.
  An "at least X" capacity (generator-limited) is a lower bound: "above" when X is
  above the range, else "unknown". "Below the lowest rate tried" is an upper bound.
- **Response time**: ``claims.latency_metric`` (e.g. p50) of the step at capacity, or
  of the operating point; open-model latency is the response time from the intended
  start (coordinated-omission corrected), closed-model latency is from the send.
- **Monthly cost**: what serving the rate the article claims (the low end of its RPS
  range) costs: replicas of the measured stack at the capacity (or throughput), each
  priced at the CPU budget it actually had (``harness.pricing.cost``).
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from harness.config import Claim, Config
from harness.pricing.cost import cost_for_target, rate_basis, replicas_for, slo_text
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


def latency_origin(target: TargetResult) -> str:
    """Where a target's latencies are measured from, in words."""
    if (target.get("profile") or {}).get("model") == "open":
        return "response time from the intended start (coordinated-omission corrected)"
    return "latency from the actual send (closed loop)"


def throughput_of(target: TargetResult) -> float | None:
    """The rate a target is compared by (req/s): capacity at the SLO when searched, else measured RPS.

    None for a capacity search that found no rate holding the SLO.
    """
    capacity: Any = target.get("capacity")
    if capacity:
        found = capacity.get("capacity_rps")
        return None if found is None else float(found)
    return float(target["summary"]["rps"])


def _bounded_verdict(kind: str, value: float | None, low: float, high: float) -> Verdict:
    """The verdict of a capacity that may be a bound: at_least = [value, inf), below_lowest = [0, value)."""
    if value is None:
        return "unknown"
    if kind == "at_least":
        return "above" if value > high else "unknown"
    if kind == "below_lowest":
        return "below" if value <= low else "unknown"
    return verdict(value, low, high)


def _rps_row(target: TargetResult, claim: Claim) -> dict[str, Any]:
    capacity: Any = target.get("capacity")
    if not capacity:
        measured = float(target["summary"]["rps"])
        return {"label": "Throughput", "measured": measured, "verdict": verdict(measured, *claim.rps),
                "basis": "operating point", "note": "throughput at the operating point (no capacity search)"}
    kind = str(capacity.get("kind"))
    found = capacity.get("capacity_rps")
    bound = capacity.get("high_rps") if kind == "below_lowest" else found
    text = {"at_least": f"at least {found}/s (generator-limited): a lower bound",
            "below_lowest": f"below the lowest rate tried ({bound}/s): an upper bound"}.get(kind, "")
    note = f"capacity at {slo_text(capacity)}" + (f"; {text}" if text else "")
    return {"label": "Throughput (capacity at the SLO)", "measured": None if found is None else float(found),
            "verdict": _bounded_verdict(kind, None if bound is None else float(bound), *claim.rps),
            "basis": "capacity", "bound": kind if kind in ("at_least", "below_lowest") else "", "note": note}


def _latency_row(target: TargetResult, claim: Claim, metric: str) -> dict[str, Any]:
    measured = latency_of(target, metric)
    capacity: Any = target.get("capacity")
    if metric not in LATENCY_METRICS:
        note = f"unknown latency metric {metric!r}"
    elif capacity and capacity.get("capacity_rps") is not None:
        note = f"{metric} at capacity ({capacity['capacity_rps']:g}/s), {latency_origin(target)}"
    elif capacity:
        note = f"{metric} at the lowest rate tried, which broke the SLO; {latency_origin(target)}"
    else:
        note = f"{metric} at the operating point, {latency_origin(target)}"
    return {"label": f"Response time ({metric}{' at capacity' if capacity else ''})", "measured": measured,
            "verdict": verdict(measured, *claim.latency_ms), "basis": "capacity" if capacity else "operating point",
            "note": note}


def claimed_rate_cost(cost: dict[str, Any], claim: Claim) -> dict[str, Any]:
    """Monthly cost (USD) of serving the article's claimed RPS range with replicas of the measured stack.

    Returns ``rps`` (the low end, what the verdict uses), ``replicas``, ``monthly_usd``
    (None when no rate is known), the same for the high end (``high_*``), ``rate_rps``
    (each replica's rate) and ``note``.
    """
    reserved = cost.get("reserved") or cost["provisioned"]
    basis = cost.get("rate_basis") or {"rps": cost.get("successful_rps"), "text": "measured throughput"}
    rate = basis.get("rps")
    low, high = float(claim.rps[0]), float(claim.rps[1])
    replicas, high_replicas = replicas_for(low, rate), replicas_for(high, rate)
    monthly = float(reserved["monthly_usd"])
    budget = cost.get("budget") or {}
    priced = (f"{float(budget['vcpus']):g} vCPU(s), enforced by the {budget['enforced_by']}"
              if budget else f"{float(reserved['vcpus']):g} vCPU(s)")
    if replicas is None or low <= 0:
        note = f"no rate to price the claimed {low:g} req/s: {basis.get('text', 'nothing measured')}"
        usd: float | None = None
    else:
        usd = replicas * monthly
        note = (f"serving the claimed {low:g} req/s at {basis['text']} would take {replicas} replica(s), "
                f"about ${usd:,.0f}/month (each replica priced at {priced}: ${monthly:,.0f}/month)")
        if high_replicas is not None and high > low:
            note += f"; {high:g} req/s: {high_replicas} replica(s), about ${high_replicas * monthly:,.0f}/month"
    return {"rps": low, "replicas": replicas, "monthly_usd": usd, "high_rps": high, "high_replicas": high_replicas,
            "high_monthly_usd": None if high_replicas is None else high_replicas * monthly, "rate_rps": rate,
            "note": note}


def check_claims(target: TargetResult, config: Config) -> list[dict[str, Any]]:
    """One row per claimed metric (rps, latency, monthly cost) for ``target``.

    Each row: ``metric``, ``label``, ``unit``, ``claimed`` [low, high], ``measured``,
    ``verdict``, ``direction``, ``basis`` ("capacity" or "operating point"),
    ``cpu_budget`` (the CPU set the target was measured on), ``instances`` (what the
    article priced), ``source``, ``note`` (what exactly was compared). Empty when the
    article claims nothing for this target.
    """
    claim = config.claims.targets.get(target["target"])
    if claim is None:
        return []
    metric = config.claims.latency_metric
    cost = target.get("cost") or cost_for_target(target, config)
    if "reserved" not in cost:  # written before costs were priced at the enforced budget
        cost = cost_for_target(target, config)
    cpu_budget = str(dict(target.get("cpu_budget") or {}).get("target_cpus", ""))
    common = {"cpu_budget": cpu_budget, "instances": claim.instances, "source": config.claims.source}
    at_claim = claimed_rate_cost(cost, claim)
    basis = rate_basis(target)["at"]
    rows = [
        {"metric": "rps", "unit": "req/s", "claimed": list(claim.rps), "direction": "higher is better",
         **_rps_row(target, claim), **common},
        {"metric": f"latency_{metric}", "unit": "ms", "claimed": list(claim.latency_ms),
         "direction": "lower is better", **_latency_row(target, claim, metric), **common},
        {"metric": "monthly_usd", "label": f"Monthly cost to serve {claim.rps[0]:g} req/s (modelled)",
         "unit": "USD", "claimed": list(claim.monthly_usd), "measured": at_claim["monthly_usd"],
         "verdict": verdict(at_claim["monthly_usd"], *claim.monthly_usd), "direction": "lower is better",
         "basis": basis, "note": at_claim["note"], "at_claimed_rate": at_claim, **common},
    ]
    return rows


def check_ordering(targets: dict[str, TargetResult], config: Config) -> dict[str, Any]:
    """Does the article's throughput ordering of the patterns hold in this run?

    The claimed order sorts targets by the midpoint of their claimed RPS range
    (monolith < microservices < event-driven in the article); the measured order
    sorts by capacity at the SLO when every compared target has one, else by measured
    RPS (``basis`` says which). Returns ``claimed_order``, ``measured_order``,
    ``measured_rps``, ``basis``, ``pairs`` (each adjacent claimed pair with both rates
    and whether it holds) and ``holds`` (True/False, or None with fewer than two
    comparable targets).
    """
    claimed = [
        name for name in targets if name in config.claims.targets and any(config.claims.targets[name].rps)
    ]
    by_capacity = bool(claimed) and all(targets[name].get("capacity") for name in claimed)
    rates = {name: (throughput_of(targets[name]) if by_capacity else float(targets[name]["summary"]["rps"]))
             for name in claimed}
    claimed = [name for name in claimed if rates[name] is not None]
    claimed.sort(key=lambda name: sum(config.claims.targets[name].rps) / 2)
    measured_rps = {name: float(rates[name] or 0.0) for name in claimed}
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
        "basis": "capacity at the SLO" if by_capacity else "measured throughput",
        "pairs": pairs,
        "holds": all(p["holds"] for p in pairs) if pairs else None,
    }
