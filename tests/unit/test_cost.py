"""Cost model: hand-computed expectations (prices chosen to make the arithmetic easy)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from report_fixture import FIXTURE

from harness.config import Config, CostConfig, PriceConfig
from harness.pricing.cost import cost_for_target, successful_rps
from harness.results import load_results

PRICES = PriceConfig(source="test prices", date="2026-01", vcpu_hour=0.04, gb_hour=0.004, hours_per_month=730)
CONFIG = Config(prices=PRICES, cost=CostConfig(target_rps=(100.0, 250.0, 1000.0)))


def target(**overrides: Any) -> dict[str, Any]:
    """A measured target: 10,000 requests in 100 s (100 req/s), app 1 vCPU/512 MiB + db 1 vCPU/1 GiB."""
    base: dict[str, Any] = {
        "target": "monolith",
        "services": [
            {"name": "app", "role": "service", "cpus": 1.0, "memory_mb": 512, "workers": 1},
            {"name": "postgres", "role": "infra", "cpus": 1.0, "memory_mb": 1024, "workers": 1},
        ],
        "cpu_budget": {"target_cpus": "1", "generator_cpus": "0"},
        "duration_s": 100.0,
        "summary": {"requests": 10_000, "failures": 0, "rps": 100.0},
        "resources": {"csv": "x.csv", "services": [
            {"name": "app", "cpu_seconds": 50.0, "cpu_mean_pct": 50.0, "cpu_peak_pct": 80.0,
             "rss_peak_bytes": 512 * 2**20},
            {"name": "postgres", "cpu_seconds": 30.0, "cpu_mean_pct": 30.0, "cpu_peak_pct": 40.0,
             "rss_peak_bytes": 512 * 2**20},
        ]},
    }
    base.update(overrides)
    return base


def test_provisioned_cost_counts_every_service_including_infrastructure() -> None:
    cost = cost_for_target(target(), CONFIG)  # type: ignore[arg-type]
    # 2 vCPU * 0.04 + 1.5 GB * 0.004 = 0.08 + 0.006
    assert cost["provisioned"]["vcpus"] == 2.0
    assert cost["provisioned"]["memory_gb"] == 1.5
    assert cost["provisioned"]["hourly_usd"] == pytest.approx(0.086)
    assert cost["provisioned"]["monthly_usd"] == pytest.approx(0.086 * 730)
    services = {s["name"]: s for s in cost["services"]}
    assert services["postgres"]["hourly_usd"] == pytest.approx(0.04 + 0.004)
    assert services["app"]["monthly_usd"] == pytest.approx((0.04 + 0.5 * 0.004) * 730)


def test_cost_per_million_successful_requests() -> None:
    cost = cost_for_target(target(), CONFIG)  # type: ignore[arg-type]
    # 100 req/s = 360,000 req/h; $0.086 per hour -> 0.086 / 360000 * 1e6
    assert cost["provisioned"]["per_million_usd"] == pytest.approx(0.086 / 0.36)


def test_failed_requests_do_not_count_as_served() -> None:
    failing = target(summary={"requests": 10_000, "failures": 2_000, "rps": 100.0})
    assert successful_rps(failing) == pytest.approx(80.0)  # type: ignore[arg-type]
    cost = cost_for_target(failing, CONFIG)  # type: ignore[arg-type]
    assert cost["provisioned"]["per_million_usd"] == pytest.approx(0.086 / (80 * 3600) * 1e6)


def test_usage_cost_from_measured_cpu_seconds_and_peak_memory() -> None:
    cost = cost_for_target(target(), CONFIG)  # type: ignore[arg-type]
    # (50 + 30) CPU s / 100 s = 0.8 vCPU; 2 x 512 MiB = 1 GB
    assert cost["usage"]["vcpus"] == pytest.approx(0.8)
    assert cost["usage"]["memory_gb"] == pytest.approx(1.0)
    assert cost["usage"]["hourly_usd"] == pytest.approx(0.8 * 0.04 + 0.004)
    assert cost["usage"]["monthly_usd"] == pytest.approx((0.8 * 0.04 + 0.004) * 730)


def test_replicas_round_up_and_exact_capacity_needs_one() -> None:
    # two cores for two 1-vCPU services: the enforced budget is the quotas' 2 vCPUs ($0.086/h)
    two_cores = target(cpu_budget={"target_cpus": "0-1", "generator_cpus": "2"})
    scaling = {row["target_rps"]: row for row in cost_for_target(two_cores, CONFIG)["scaling"]}  # type: ignore[arg-type]
    assert scaling[100.0]["replicas"] == 1  # exactly the measured capacity
    assert scaling[250.0]["replicas"] == 3  # 2.5 -> 3
    assert scaling[1000.0]["replicas"] == 10
    assert scaling[250.0]["monthly_usd"] == pytest.approx(3 * 0.086 * 730)


def test_nothing_measured_gives_no_rates_instead_of_dividing_by_zero() -> None:
    empty = target(duration_s=0.0, summary={"requests": 0, "failures": 0, "rps": 0.0})
    cost = cost_for_target(empty, CONFIG)  # type: ignore[arg-type]
    assert cost["provisioned"]["per_million_usd"] is None
    assert cost["usage"] is None
    assert all(row["replicas"] is None and row["monthly_usd"] is None for row in cost["scaling"])
    assert cost["provisioned"]["monthly_usd"] == pytest.approx(0.086 * 730)  # still provisioned


def test_usage_ignores_readings_of_processes_that_are_not_services() -> None:
    extra = target()
    extra["resources"]["services"].append({"name": "generator", "cpu_seconds": 90.0, "cpu_mean_pct": 90.0,
                                           "cpu_peak_pct": 99.0, "rss_peak_bytes": 2**30})
    assert cost_for_target(extra, CONFIG)["usage"]["vcpus"] == pytest.approx(0.8)  # type: ignore[arg-type]


def test_without_resource_readings_usage_is_none() -> None:
    bare = target()
    del bare["resources"]
    assert cost_for_target(bare, CONFIG)["usage"] is None  # type: ignore[arg-type]


def test_inputs_are_echoed() -> None:
    inputs = cost_for_target(target(), CONFIG)["inputs"]  # type: ignore[arg-type]
    assert inputs["source"] == "test prices" and inputs["date"] == "2026-01"
    assert (inputs["vcpu_hour_usd"], inputs["gb_hour_usd"], inputs["hours_per_month"]) == (0.04, 0.004, 730)
    assert inputs["cpu_budget"] == {"target_cpus": "1", "generator_cpus": "0"}


def test_default_fargate_prices() -> None:
    cost = cost_for_target(target(), Config())  # type: ignore[arg-type]
    assert cost["provisioned"]["hourly_usd"] == pytest.approx(2 * 0.04048 + 1.5 * 0.004445)
    assert cost["inputs"]["hours_per_month"] == 730


def test_fixture_cost_matches_a_recomputation() -> None:
    from harness.report.model import resolve_config

    results = load_results(FIXTURE)
    config, note = resolve_config(results)
    assert note == ""
    for name, stored in results["targets"].items():
        fresh = cost_for_target(copy.deepcopy(stored), config)
        assert fresh["provisioned"] == pytest.approx(stored["cost"]["provisioned"]), name
        assert not math.isnan(fresh["successful_rps"])


# -- the CPU the target actually had, and costs at capacity (issue 12 item 4) ----------------


def capacity(kind: str = "bracketed", rps: float | None = 400.0, high: float | None = 440.0) -> dict[str, Any]:
    return {"slo": ["p99 < 200ms", "error_rate < 1%"], "kind": kind, "capacity_rps": rps,
            "low_rps": rps, "high_rps": high, "generator_limited": kind == "at_least", "reason": "",
            "description": "", "latency_from": "intended start (response time)",
            "p99_at_capacity_ms": 120.0, "limited_by": "app", "steps": []}


def test_services_sharing_one_pinned_core_are_priced_as_one_vcpu() -> None:
    cost = cost_for_target(target(), CONFIG)  # type: ignore[arg-type]
    # app 1.0 + postgres 1.0 declared, but both ran on cpuset "1": one core was the budget
    assert cost["budget"] == {"declared_vcpus": 2.0, "cpuset": "1", "cpuset_cores": 1, "vcpus": 1.0,
                              "enforced_by": "cpuset"}
    assert cost["reserved"]["vcpus"] == 1.0
    assert cost["reserved"]["hourly_usd"] == pytest.approx(0.04 + 1.5 * 0.004)
    assert cost["reserved"]["per_million_usd"] == pytest.approx((0.04 + 0.006) / 0.36)
    assert cost["usage"]["vcpus"] == pytest.approx(0.8)  # "used" beside "reserved"
    scaling = {row["target_rps"]: row for row in cost["scaling"]}
    assert scaling[250.0]["monthly_usd"] == pytest.approx(3 * 0.046 * 730)


def test_quotas_are_the_budget_when_smaller_than_the_cpuset_or_unpinned() -> None:
    wide = cost_for_target(target(cpu_budget={"target_cpus": "0-3", "generator_cpus": ""}), CONFIG)  # type: ignore[arg-type]
    assert (wide["budget"]["vcpus"], wide["budget"]["enforced_by"]) == (2.0, "quotas")
    unpinned = cost_for_target(target(cpu_budget={"target_cpus": "", "generator_cpus": ""}), CONFIG)  # type: ignore[arg-type]
    assert (unpinned["budget"]["vcpus"], unpinned["budget"]["cpuset_cores"]) == (2.0, None)


def test_costs_use_the_capacity_when_the_run_searched_for_it() -> None:
    searched = target(capacity=capacity(rps=400.0))  # the step at capacity measured 100 req/s ok
    cost = cost_for_target(searched, CONFIG)  # type: ignore[arg-type]
    assert cost["rate_rps"] == 400.0 and cost["rate_basis"]["at"] == "capacity"
    assert "capacity 400/s at p99 < 200ms and error_rate < 1%" in cost["rate_basis"]["text"]
    assert cost["reserved"]["per_million_usd"] == pytest.approx(0.046 / (400 * 3600) * 1e6)
    scaling = {row["target_rps"]: row for row in cost["scaling"]}
    assert scaling[1000.0]["replicas"] == 3  # 1000 / 400 -> 3, not 1000 / 100 = 10
    assert cost["successful_rps"] == pytest.approx(100.0)  # what was measured stays visible


def test_capacity_bounds_are_labelled_and_no_rate_prices_nothing() -> None:
    at_least = cost_for_target(target(capacity=capacity("at_least", 400.0, None)), CONFIG)  # type: ignore[arg-type]
    assert at_least["rate_rps"] == 400.0 and at_least["rate_basis"]["bound"] == "lower"
    assert "at least 400/s" in at_least["rate_basis"]["text"] and "generator-limited" in at_least["rate_basis"]["text"]
    below = cost_for_target(target(capacity=capacity("below_lowest", None, 50.0)), CONFIG)  # type: ignore[arg-type]
    assert below["rate_rps"] is None
    assert "below the lowest rate tried (50/s)" in below["rate_basis"]["text"]
    assert below["reserved"]["per_million_usd"] is None
    assert all(row["replicas"] is None for row in below["scaling"])
