"""Gate checks on capacity (``bench capacity`` runs): the ``capacity`` threshold and its regression (pure).

A capacity section (``harness.results.CapacityResult``) says where the true capacity
lies, in requests/s:

- ``bracketed``: the figure is ``capacity_rps`` (the highest rate that held); the knee
  lies in ``[low_rps, high_rps]``.
- ``at_least`` (generator-limited, or held up to the rate cap): ``[capacity_rps, inf)``.
- ``below_lowest`` (even the lowest rate tried broke the SLO): ``[0, high_rps)``.

A threshold such as ``capacity > 400`` passes or fails only when the whole range
agrees; a bound that cannot decide is "could not evaluate" with the reason.

Regression: the check fails when capacity dropped by more than ``limit`` **beyond the
bracket**: even the top of this run's bracket (``high_rps``, the lowest rate that
broke) is below the baseline's capacity times ``1 - limit``. The bracket's width is the
noise allowance (a search stops once its bracket is within ``capacity.tolerance``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from harness.gate.thresholds import Threshold

Verdict = Literal["pass", "fail", "error"]
CAPACITY_KEYS = ("slo", "kind", "capacity_rps", "low_rps", "high_rps", "generator_limited", "description")


def capacity_range(capacity: Mapping[str, Any]) -> tuple[float, float] | str:
    """``(low, high)`` requests/s where the true capacity lies (equal for a bracketed figure), or why none."""
    kind = capacity.get("kind")
    found, high = capacity.get("capacity_rps"), capacity.get("high_rps")
    if kind == "below_lowest":
        if high is None:
            return "the capacity search recorded no rate"
        return 0.0, float(high)
    if found is None:
        return "the capacity search found no rate that held the SLO"
    if kind == "at_least":
        return float(found), math.inf
    return float(found), float(found)


def show_capacity(capacity: Mapping[str, Any]) -> str:
    """The capacity as the gate table shows it: ``420.0/s``, ``>=400.0/s``, ``<50.0/s``."""
    found = capacity_range(capacity)
    if isinstance(found, str):
        return "-"
    low, high = found
    if capacity.get("kind") == "below_lowest":
        return f"<{high:.1f}/s"
    if capacity.get("kind") == "at_least":
        return f">={low:.1f}/s"
    return f"{low:.1f}/s"


def judge_capacity_threshold(threshold: Threshold, name: str, capacity: Mapping[str, Any] | None
                             ) -> tuple[Verdict, str, str]:
    """(verdict, shown value, detail) of a ``capacity`` threshold on one target."""
    if not capacity:
        return "error", "-", (f"could not evaluate: the run of {name} has no capacity search (bench run "
                              "measures one operating point); run `bench capacity` to gate on capacity")
    found = capacity_range(capacity)
    if isinstance(found, str):
        return "error", "-", f"could not evaluate: {found}"
    low, high = found
    shown = show_capacity(capacity)
    at_low, at_high = threshold.holds(low), threshold.holds(high)
    kind = capacity.get("kind")
    bound = {"at_least": "at least", "below_lowest": "below the lowest rate tried,"}.get(str(kind), "")
    if at_low and at_high:
        return "pass", shown, f"capacity is {bound} {shown.lstrip('<>=')}: enough to decide" if bound else ""
    if not at_low and not at_high:
        return "fail", shown, f"capacity is {shown}, needs {threshold.op} {threshold.value_text}"
    why = ("generator-limited: give the generator more cores or raise capacity.max_rate"
           if kind == "at_least" else "lower capacity.start_rate to find the knee")
    return "error", shown, (f"could not evaluate: capacity is {bound} {shown.lstrip('<>=')}, which does not "
                            f"decide {threshold.op} {threshold.value_text} ({why})")


def baseline_capacity(capacity: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a baseline keeps of a capacity section (the figure and its bracket, not the steps)."""
    if not capacity:
        return None
    return {key: capacity.get(key) for key in CAPACITY_KEYS}


def capacity_regression(name: str, current: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None,
                        limit: float, baseline_name: str) -> tuple[Verdict, str, str]:
    """(verdict, change shown, detail) of the capacity of ``name`` against its baseline.

    ``limit`` is a fraction (0.15: a drop of more than 15 % fails when it is beyond the bracket).
    """
    blocker = _regression_blocker(name, current, baseline, baseline_name)
    if blocker:
        return "error", "-", f"could not evaluate: {blocker}"
    assert current is not None and baseline is not None
    reference = float(baseline["capacity_rps"])
    floor = reference * (1.0 - limit)
    kind = current.get("kind")
    found, top = current.get("capacity_rps"), current.get("high_rps")
    base_note = (f" (the baseline is a lower bound: at least {reference:g}/s)"
                 if baseline.get("kind") == "at_least" else "")
    compared = f"capacity {show_capacity(current)} vs baseline {reference:g}/s"
    change = "-" if found is None else f"{(float(found) / reference - 1.0) * 100:+.1f}%"
    if kind == "below_lowest":
        if top is not None and float(top) <= floor:
            return "fail", change, f"{compared}: below {floor:g}/s (baseline -{limit:.0%}){base_note}"
        return "error", change, (f"could not evaluate: {compared}; the lowest rate tried ({top}/s) is not below "
                                 f"{floor:g}/s, so the drop is unknown; lower capacity.start_rate")
    assert found is not None
    if kind == "at_least":
        if float(found) >= floor:
            return "pass", change, f"{compared}: at least {found:g}/s, within the limit{base_note}"
        return "error", change, (f"could not evaluate: {compared}: at least {found:g}/s (generator-limited) is "
                                 f"below {floor:g}/s but the true capacity may be higher")
    ceiling = float(top) if top is not None else float(found)
    if ceiling < floor:
        return "fail", change, (f"{compared}: even the top of the bracket ({ceiling:g}/s) is below "
                                f"{floor:g}/s (baseline -{limit:.0%}){base_note}")
    why = "within the limit" if float(found) >= floor else \
        f"over the limit but within the bracket (knee up to {ceiling:g}/s)"
    return "pass", change, f"{compared}: {why}{base_note}"


def _regression_blocker(name: str, current: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None,
                        baseline_name: str) -> str | None:
    if not baseline:
        return (f"baseline {baseline_name!r} holds no capacity for {name!r}; save a baseline from a "
                "`bench capacity` run")
    if not current:
        return f"this run of {name} has no capacity search, the baseline {baseline_name!r} has; run `bench capacity`"
    if list(baseline.get("slo") or []) != list(current.get("slo") or []):
        return (f"baseline {baseline_name!r} measured capacity at SLO {' and '.join(baseline.get('slo') or [])!r}, "
                f"this run at {' and '.join(current.get('slo') or [])!r}; compare searches with the same SLO")
    if baseline.get("capacity_rps") is None:
        return f"baseline {baseline_name!r} found no rate that held the SLO for {name!r}: nothing to compare with"
    return None
