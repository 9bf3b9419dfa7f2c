"""Claims check: verdict boundaries, the latency metric, cost claims and the ordering check."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config import Claim, ClaimsConfig, Config, PriceConfig
from harness.pricing.claims import check_claims, check_ordering, verdict

CLAIMS = ClaimsConfig(
    source="the article",
    latency_metric="p50",
    targets={
        "monolith": Claim(rps=(100, 500), latency_ms=(100, 500), monthly_usd=(100, 500), instances="1 box"),
        "microservices": Claim(rps=(1000, 5000), latency_ms=(50, 200), monthly_usd=(500, 2000)),
        "event-driven": Claim(rps=(5000, 10000), latency_ms=(20, 100), monthly_usd=(1000, 5000)),
    },
)
# 1 vCPU-hour = $0.1, 1 GB-hour = $0 and 1000 h/month: a 1-vCPU stack costs $100/month.
CONFIG = Config(claims=CLAIMS, prices=PriceConfig(vcpu_hour=0.1, gb_hour=0.0, hours_per_month=1000))


def target(name: str = "monolith", rps: float = 200.0, p50: float = 150.0, p95: float = 400.0,
           cpus: float = 1.0) -> dict[str, Any]:
    return {
        "target": name,
        "services": [{"name": "app", "role": "service", "cpus": cpus, "memory_mb": 512, "workers": 1}],
        "cpu_budget": {"target_cpus": "1-3", "generator_cpus": "0"},
        "duration_s": 10.0,
        "summary": {"requests": int(rps * 10), "failures": 0, "rps": rps, "p50_ms": p50, "p95_ms": p95,
                    "mean_ms": p50},
    }


@pytest.mark.parametrize(
    ("measured", "expected"),
    [(99.999, "below"), (100.0, "within"), (300.0, "within"), (500.0, "within"), (500.001, "above"),
     (None, "unknown")],
)
def test_verdict_boundaries_are_inclusive(measured: float | None, expected: str) -> None:
    assert verdict(measured, 100.0, 500.0) == expected


def test_no_claimed_range_is_unknown() -> None:
    assert verdict(42.0, 0.0, 0.0) == "unknown"


def rows_by_metric(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["metric"]: row for row in rows}


def test_each_claim_gets_range_measurement_verdict_and_cpu_budget() -> None:
    rows = rows_by_metric(check_claims(target(rps=100.0, p50=99.0, cpus=1.0), CONFIG))  # type: ignore[arg-type]
    assert set(rows) == {"rps", "latency_p50", "monthly_usd"}
    assert rows["rps"]["claimed"] == [100, 500]
    assert rows["rps"]["measured"] == 100.0 and rows["rps"]["verdict"] == "within"
    assert rows["latency_p50"]["measured"] == 99.0 and rows["latency_p50"]["verdict"] == "below"
    assert rows["monthly_usd"]["measured"] == pytest.approx(100.0)  # 1 vCPU * $0.1 * 1000 h
    assert rows["monthly_usd"]["verdict"] == "within"  # lower boundary is inside
    for row in rows.values():
        assert row["cpu_budget"] == "1-3"
        assert row["source"] == "the article"
        assert row["instances"] == "1 box"


def test_above_the_claimed_cost_and_throughput() -> None:
    unpinned = target(rps=501.0, cpus=5.01)
    unpinned["cpu_budget"]["target_cpus"] = ""  # no cpuset: the 5.01-vCPU quota is the budget
    rows = rows_by_metric(check_claims(unpinned, CONFIG))  # type: ignore[arg-type]
    assert rows["rps"]["verdict"] == "above"
    assert rows["monthly_usd"]["verdict"] == "above"  # $501/month


def test_latency_metric_is_configurable() -> None:
    config = Config(claims=ClaimsConfig(latency_metric="p95", targets=CLAIMS.targets))
    rows = rows_by_metric(check_claims(target(p50=150.0, p95=600.0), config))  # type: ignore[arg-type]
    assert rows["latency_p95"]["measured"] == 600.0
    assert rows["latency_p95"]["verdict"] == "above"
    assert rows["latency_p95"]["label"] == "Response time (p95)"


def test_unknown_latency_metric_is_unknown_not_a_crash() -> None:
    config = Config(claims=ClaimsConfig(latency_metric="p42", targets=CLAIMS.targets))
    rows = rows_by_metric(check_claims(target(), config))  # type: ignore[arg-type]
    assert rows["latency_p42"]["verdict"] == "unknown"
    assert "p42" in rows["latency_p42"]["note"]


def test_target_without_a_claim_has_no_rows() -> None:
    config = Config(claims=ClaimsConfig(targets={}))
    assert check_claims(target(), config) == []  # type: ignore[arg-type]


def test_cost_note_prices_the_claimed_low_rps() -> None:
    rows = rows_by_metric(check_claims(target(rps=30.0, cpus=1.0), CONFIG))  # type: ignore[arg-type]
    # 100 req/s claimed low end / 30 req/s measured -> 4 replicas of a $100/month stack
    assert "4 replica(s)" in rows["monthly_usd"]["note"]
    assert "$400/month" in rows["monthly_usd"]["note"]


def test_ordering_holds_when_measured_rps_follows_the_article() -> None:
    targets = {"event-driven": target("event-driven", rps=300.0), "monolith": target("monolith", rps=100.0),
               "microservices": target("microservices", rps=200.0)}
    ordering = check_ordering(targets, CONFIG)  # type: ignore[arg-type]
    assert ordering["claimed_order"] == ["monolith", "microservices", "event-driven"]
    assert ordering["measured_order"] == ["monolith", "microservices", "event-driven"]
    assert ordering["holds"] is True
    assert [p["holds"] for p in ordering["pairs"]] == [True, True]


def test_ordering_fails_when_one_pair_is_inverted() -> None:
    targets = {"monolith": target("monolith", rps=250.0), "microservices": target("microservices", rps=200.0),
               "event-driven": target("event-driven", rps=300.0)}
    ordering = check_ordering(targets, CONFIG)  # type: ignore[arg-type]
    assert ordering["holds"] is False
    assert ordering["pairs"][0] == {"lower": "monolith", "higher": "microservices", "lower_rps": 250.0,
                                    "higher_rps": 200.0, "holds": False}
    assert ordering["pairs"][1]["holds"] is True
    assert ordering["measured_order"] == ["microservices", "monolith", "event-driven"]


def test_ordering_needs_two_targets() -> None:
    assert check_ordering({"monolith": target()}, CONFIG)["holds"] is None  # type: ignore[dict-item]


def test_equal_throughput_does_not_hold() -> None:
    targets = {"monolith": target("monolith", rps=200.0), "microservices": target("microservices", rps=200.0)}
    assert check_ordering(targets, CONFIG)["holds"] is False  # type: ignore[arg-type]


# -- verdicts at capacity and at the claimed rate (issue 12 item 4) --------------------------


def searched(name: str = "monolith", kind: str = "bracketed", capacity_rps: float | None = 400.0,
             high: float | None = 440.0, **overrides: Any) -> dict[str, Any]:
    found = target(name, **overrides)
    found["profile"] = {"name": "capacity@400/s", "model": "open"}
    found["capacity"] = {"slo": ["p99 < 200ms"], "kind": kind, "capacity_rps": capacity_rps,
                         "low_rps": capacity_rps, "high_rps": high, "generator_limited": kind == "at_least",
                         "reason": "", "description": "", "latency_from": "intended start (response time)",
                         "p99_at_capacity_ms": 150.0, "limited_by": "app", "steps": []}
    return found


def test_cost_verdict_is_at_the_claimed_rate_not_one_stack() -> None:
    """The issue's event-driven case: one stack cost $110/month ("below" $1,000-5,000), while
    serving the claimed 5,000 req/s takes 12 replicas, about $1,320: inside the claim."""
    event = target("event-driven", rps=420.0, cpus=1.1)
    event["cpu_budget"]["target_cpus"] = ""  # the 1.1-vCPU quota is the budget: $110/month
    rows = rows_by_metric(check_claims(event, CONFIG))  # type: ignore[arg-type]
    cost = rows["monthly_usd"]
    assert cost["measured"] == pytest.approx(12 * 110.0)
    assert cost["verdict"] == "within"
    assert "12 replica(s)" in cost["note"] and "$1,320/month" in cost["note"]
    assert cost["at_claimed_rate"]["replicas"] == 12 and cost["at_claimed_rate"]["high_replicas"] == 24
    assert cost["label"] == "Monthly cost to serve 5000 req/s (modelled)"


def test_throughput_and_latency_are_compared_at_capacity() -> None:
    rows = rows_by_metric(check_claims(searched(rps=100.0, p50=120.0), CONFIG))  # type: ignore[arg-type]
    assert rows["rps"]["measured"] == 400.0 and rows["rps"]["verdict"] == "within"  # not the 100 req/s step
    assert rows["rps"]["basis"] == "capacity" and "capacity at p99 < 200ms" in rows["rps"]["note"]
    latency = rows["latency_p50"]
    assert latency["measured"] == 120.0 and latency["basis"] == "capacity"
    assert latency["note"] == ("p50 at capacity (400/s), response time from the intended start "
                               "(coordinated-omission corrected)")
    assert rows["monthly_usd"]["at_claimed_rate"]["rate_rps"] == 400.0


def test_without_capacity_the_operating_point_is_named() -> None:
    rows = rows_by_metric(check_claims(target(), CONFIG))  # type: ignore[arg-type]
    assert rows["rps"]["basis"] == "operating point"
    assert rows["latency_p50"]["note"] == "p50 at the operating point, latency from the actual send (closed loop)"


@pytest.mark.parametrize(("kind", "capacity_rps", "high", "expected"), [
    ("at_least", 400.0, None, "unknown"),  # at least 400 against 100-500: within or above
    ("at_least", 600.0, None, "above"),  # at least 600: above for sure
    ("below_lowest", None, 80.0, "below"),  # below 80/s against 100-500
    ("below_lowest", None, 200.0, "unknown"),  # below 200/s: below or within
])
def test_capacity_bounds_give_only_the_verdicts_they_prove(kind: str, capacity_rps: float | None,
                                                           high: float | None, expected: str) -> None:
    rows = rows_by_metric(check_claims(searched(kind=kind, capacity_rps=capacity_rps, high=high), CONFIG))  # type: ignore[arg-type]
    assert rows["rps"]["verdict"] == expected
    assert ("lower bound" if kind == "at_least" else "lowest rate tried") in rows["rps"]["note"]


def test_ordering_uses_capacity_when_every_target_has_one() -> None:
    targets = {"monolith": searched("monolith", capacity_rps=300.0, rps=900.0),
               "microservices": searched("microservices", capacity_rps=200.0, rps=100.0)}
    ordering = check_ordering(targets, CONFIG)  # type: ignore[arg-type]
    assert ordering["basis"] == "capacity at the SLO"
    assert ordering["measured_rps"] == {"monolith": 300.0, "microservices": 200.0}
    assert ordering["holds"] is False
