"""Gate thresholds on injected faults: availability, recovery_s and lost, scoped per fault."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import BenchError
from harness.gate.evaluate import evaluate_thresholds
from harness.gate.thresholds import parse_thresholds
from harness.results import Results


def target(name: str) -> dict[str, Any]:
    stats = {"name": "total", "requests": 1000, "failures": 0, "error_rate": 0.0, "rps": 50.0,
             "failure_classes": {}}
    return {"target": name, "summary": stats, "endpoints": [],
            "integrity": {"acknowledged": 100, "found": 100, "lost": 0, "reasons": [], "ok": True},
            "valid": {"ok": True, "reasons": []}}


def results(**targets: dict[str, Any]) -> Results:
    return {"schema": "archbench/results@2", "run_id": "r", "started_at": "", "finished_at": None,
            "host": {}, "config": {}, "targets": targets}  # type: ignore[typeddict-item]


def fault(instance: str, availability: float | None, recover: float | None, lost: int | None,
          action: str = "kill") -> dict[str, Any]:
    return {"event": {"action": action, "instance": instance, "label": f"{action} {instance}",
                      "at_s": 1.0, "error": ""},
            "availability": availability, "time_to_recover_s": recover,
            "orders": {"lost": lost}, "summary": ""}


def faulty(name: str, *faults: dict[str, Any]) -> dict[str, Any]:
    data = target(name)
    data["faults"] = {"faults": list(faults)}
    return data


RUN = results(monolith=faulty("monolith", fault("postgres", 0.0, 4.2, 0), fault("app", 0.1, None, 0)),
              microservices=faulty("microservices", fault("catalog", 0.6, 2.0, 1)))


def verdicts(*expressions: str) -> list[tuple[str, str, str]]:
    checks = evaluate_thresholds(RUN, parse_thresholds(expressions), min_requests=100)
    return [(c.scope, c.verdict, c.value) for c in checks]


def test_an_unscoped_fault_threshold_checks_every_fault_of_every_target() -> None:
    checked = verdicts("recovery_s < 5s")
    assert [c[:2] for c in checked] == [("monolith kill postgres", "pass"), ("monolith kill app", "fail"),
                                        ("microservices kill catalog", "pass")]
    assert checked[1][2] == "not recovered" and checked[0][2] != "-"


def test_a_fault_scope_picks_faults_by_instance_or_label() -> None:
    assert verdicts("monolith postgres: availability > 50%") == [("monolith kill postgres", "fail", "0%")]
    assert [v[:2] for v in verdicts("* kill catalog: availability > 50%")] == [
        ("monolith kill catalog", "error"), ("microservices kill catalog", "pass")]
    assert verdicts("microservices catalog: lost == 0")[0][:2] == ("microservices kill catalog", "fail")


def test_lost_without_a_fault_scope_stays_the_integrity_count() -> None:
    assert [v[:2] for v in verdicts("lost == 0")] == [("monolith", "pass"), ("microservices", "pass")]


def test_unknown_faults_and_targets_without_faults_could_not_be_evaluated() -> None:
    checks = evaluate_thresholds(RUN, parse_thresholds(["monolith nats: recovery_s < 5s"]), min_requests=100)
    assert checks[0].verdict == "error" and "its faults: kill postgres, kill app" in checks[0].detail
    plain = results(monolith=target("monolith"))
    checks = evaluate_thresholds(plain, parse_thresholds(["availability > 50%"]), min_requests=100)
    assert checks[0].verdict == "error" and "no faults were injected" in checks[0].detail


def test_recovery_needs_a_latency_unit() -> None:
    with pytest.raises(BenchError, match="recovery_s"):
        parse_thresholds(["recovery_s < 10"])
