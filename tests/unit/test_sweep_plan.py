"""Sweep planning (pure): splitting a budget over instances, which points fit, bad grids."""

from __future__ import annotations

import pytest

from harness.capacity.sweep import (
    SweepPoint,
    check_grid,
    parse_replicas,
    plan_sweep,
    point_job,
    split_budget,
)
from harness.config import load_config
from harness.errors import ConfigError
from harness.registry import get_topology

MONOLITH = get_topology("monolith")  # app 1.0 + postgres 1.0
MICRO = get_topology("microservices")  # 4 services x 0.5 + 3 databases x 0.5


def test_a_budget_is_split_by_declared_shares_and_sums_to_the_budget() -> None:
    assert split_budget(MONOLITH, 1.0, {}) == {"app": 0.5, "postgres": 0.5}
    shares = split_budget(MICRO, 1.4, {"catalog": 2})  # catalog counts twice, each replica half
    assert shares["catalog"] == pytest.approx(shares["users"] / 1)  # per replica: same share
    total = sum(v * (2 if k == "catalog" else 1) for k, v in shares.items())
    assert total == pytest.approx(1.4, abs=1e-3)


def test_points_that_do_not_fit_are_skipped_with_the_reason() -> None:
    points, skipped = plan_sweep([MONOLITH, MICRO], [0.2, 0.5, 1.0, 1.5], {"catalog": [1, 2]}, target_cores=1)
    labels = [p.label for p in points]
    assert "monolith @ 0.5 vCPU" in labels and "monolith @ 1 vCPU" in labels
    assert "microservices @ 1 vCPU, catalog×2" in labels
    assert not any("1.5" in label for label in labels)
    assert any("1.5 vCPU > the 1 core(s)" in reason for reason in skipped)
    assert any(r.startswith("microservices @ 0.2 vCPU, catalog×2") and "8 instances" in r for r in skipped)


def test_bad_grids_name_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match="catalog=1,2,3"):
        parse_replicas(("catalog=0",))
    with pytest.raises(ConfigError, match="no selected target has a service 'catalog'.*services: app"):
        check_grid([MONOLITH], [1.0], {"catalog": [1, 2]})
    with pytest.raises(ConfigError, match="positive number of vCPUs"):
        check_grid([MONOLITH], [0.0], {})
    assert parse_replicas(("catalog=1,2,3",)) == {"catalog": [1, 2, 3]}


def test_a_point_job_enforces_limits_and_carries_its_overrides() -> None:
    config = load_config()
    job = point_job(config, MICRO, SweepPoint("microservices", 1.4, (("catalog", 2),)))
    assert job.label == "microservices @ 1.4 vCPU, catalog×2"
    assert job.config.cpu.limits == "enforce"
    services = job.config.target("microservices").services
    assert services["catalog"].replicas == 2 and services["catalog"].cpus == pytest.approx(1.4 / 8)  # 8 equal shares
    assert job.point is not None and job.point["replicas"] == {"catalog": 2}
