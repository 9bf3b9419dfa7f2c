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
    rows = rows_by_metric(check_claims(target(rps=501.0, cpus=5.01), CONFIG))  # type: ignore[arg-type]
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
