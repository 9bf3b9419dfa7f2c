"""Gate thresholds on injected faults: ``availability``, ``recovery_s`` and ``lost`` per fault (pure).

Scope syntax: ``[TARGET [FAULT]:] METRIC OP VALUE`` where FAULT names the faults of the
target's ``faults`` section by instance (``postgres``) or label (``kill postgres``,
``pause postgres 2s``); without FAULT the threshold applies to every fault, one check
each. Examples: ``"recovery_s < 10s"``, ``"monolith postgres: recovery_s < 10s"``,
``"microservices kill catalog: availability > 50%"``, ``"* kill nats: lost == 0"``.

- ``availability``: successful share of the requests during the fault (fraction).
- ``recovery_s``: time to recover (latency units); a fault that did not recover within
  its window has no finite value and fails every ``<`` / ``<=`` bound.
- ``lost``: acknowledged orders of the fault's impact window never found.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from harness.gate.thresholds import Threshold, format_metric_value
from harness.results import FaultResult, TargetResult

Verdict = Literal["pass", "fail", "error"]
FaultJudgement = tuple[str, Verdict, str, str]  # (fault label, verdict, shown value, detail)


def matches(fault: FaultResult, selector: str | None) -> bool:
    """Whether ``fault`` is one the threshold's FAULT scope names (None: every fault)."""
    if selector is None:
        return True
    event = fault["event"]
    return selector in (event["instance"], event["label"], f"{event['action']} {event['instance']}")


def _value(threshold: Threshold, fault: FaultResult) -> float | str:
    name = threshold.metric.name
    if fault["event"]["at_s"] is None:
        return f"the fault was not applied ({fault['summary']})"
    if name == "availability":
        if fault["availability"] is None:
            return "no requests during the fault"
        return float(fault["availability"])
    if name == "recovery_s":
        recovered = fault["time_to_recover_s"]
        return math.inf if recovered is None else float(recovered) * 1000.0
    lost = fault["orders"]["lost"]
    return "integrity was not checked, so lost orders are unknown" if lost is None else float(lost)


def judge_fault_threshold(threshold: Threshold, name: str, target: TargetResult) -> list[FaultJudgement]:
    """One judgement per fault of ``target`` the threshold's scope names."""
    section: dict[str, Any] | None = target.get("faults")  # type: ignore[assignment]
    if not section:
        return [("", "error", "-", f"could not evaluate: no faults were injected into {name} (its "
                 "profile has no `faults`)")]
    chosen = [f for f in section["faults"] if matches(f, threshold.endpoint)]
    if not chosen:
        known = ", ".join(f["event"]["label"] for f in section["faults"]) or "none"
        return [(threshold.endpoint or "", "error", "-",
                 f"could not evaluate: no fault {threshold.endpoint!r} on {name}; its faults: {known}")]
    judged: list[FaultJudgement] = []
    for fault in chosen:
        label = fault["event"]["label"]
        value = _value(threshold, fault)
        if isinstance(value, str):
            judged.append((label, "error", "-", f"could not evaluate: {value}"))
            continue
        shown = "not recovered" if math.isinf(value) else format_metric_value(threshold.metric, value)
        verdict: Verdict = "pass" if threshold.holds(value) else "fail"
        detail = "" if verdict == "pass" else (
            f"{threshold.metric.name} is {shown} during {label}, needs {threshold.op} {threshold.value_text}")
        judged.append((label, verdict, shown, detail))
    return judged
