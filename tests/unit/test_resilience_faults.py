"""Fault schedules as profile data: expansion per target and validation before anything starts."""

from __future__ import annotations

import copy
import io
import tomllib

import pytest
from rich.console import Console

from harness.config import DEFAULT_CONFIG, load_config, parse_config
from harness.context import RunContext
from harness.errors import ConfigError
from harness.faults import FaultSpec, expand_selector, plan_faults
from harness.registry import get_topology
from harness.run import check_faults

BASE = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def with_faults(faults: list[dict[str, object]], duration: str = "60s") -> dict[str, object]:
    data = copy.deepcopy(BASE)
    data["profiles"]["f"] = {"warmup": "2s", "stages": [{"duration": duration, "rate": 50}], "faults": faults}
    return data


def test_role_selectors_expand_to_each_targets_own_instances_in_turn() -> None:
    assert expand_selector("@all", get_topology("monolith")) == ["postgres", "app"]
    assert expand_selector("@database", get_topology("microservices")) == ["users-db", "catalog-db", "orders-db"]
    assert expand_selector("@broker", get_topology("microservices")) == []
    assert expand_selector("@all", get_topology("event-driven")) == [
        "postgres", "nats", "api", "inventory", "projector"]
    planned = plan_faults([FaultSpec(action="kill", service="@infra", at=10.0, every=7.0)],
                          get_topology("event-driven"), 60.0, 2.0)
    assert [(f.instance, f.at_s) for f in planned] == [("postgres", 10.0), ("nats", 17.0)]


def test_the_shipped_resilience_profile_takes_down_everything_on_every_target() -> None:
    profile = load_config(check_cpus=False).profile("resilience")
    for target, expected in (("monolith", 2), ("microservices", 7), ("event-driven", 5)):
        planned = plan_faults(profile.faults, get_topology(target), profile.duration, profile.warmup)
        assert len(planned) == expected and {f.action for f in planned} == {"kill"}
    assert profile.duration <= 120  # short enough to run on all three targets


@pytest.mark.parametrize(("fault", "message"), [
    ({"at": "10s", "action": "kill", "service": "nope"},
     "no target has an instance 'nope'; instances: monolith: postgres, app"),
    ({"at": "10s", "action": "kill", "service": "catalog", "target": "monolith"},
     "instances: monolith: postgres, app; or a role selector"),
    ({"at": "10s", "action": "kill", "service": "@db"}, "unknown role selector '@db'; valid selectors: @database"),
    ({"at": "10s", "action": "pause", "service": "app"}, "faults[0].duration: a pause needs `duration`"),
    ({"at": "10s", "action": "kill", "service": "app", "duration": "2s"}, "applies to pause only"),
    ({"action": "kill", "service": "app"}, "faults[0].at: every fault needs `at`"),
    ({"at": "3s", "action": "kill", "service": "app"}, "comes before 5s (warm-up 2s + 3s"),
    ({"at": "70s", "action": "kill", "service": "app"}, "after the end of the profile's 60s load"),
    ({"at": "58s", "action": "pause", "service": "postgres", "duration": "3s"}, "ends at or after the end"),
    ({"at": "10s", "action": "explode", "service": "app"}, "'explode' is not valid; choose one of 'kill'"),
    ({"at": "10s", "every": "30s", "action": "kill", "service": "@services"},
     "on microservices at 70s comes at or after the end"),
])
def test_bad_faults_fail_when_the_config_loads(fault: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_faults([fault]))
    assert message in str(error.value)
    assert "profiles.f.faults[0]" in str(error.value)


def test_overlapping_pauses_are_refused() -> None:
    faults = [{"at": "10s", "action": "pause", "service": "postgres", "duration": "5s"},
              {"at": "12s", "action": "kill", "service": "app"}]
    with pytest.raises(ConfigError, match="past the next fault"):
        parse_config(with_faults(faults))


def _context(config_data: dict[str, object], targets: tuple[str, ...], external: bool = False) -> RunContext:
    from pathlib import Path

    from harness.context import ExternalTarget

    config = parse_config(config_data)
    return RunContext(config=config, profile=config.profile("f"), targets=targets, run_id="x",
                      run_dir=Path("/nonexistent"), console=Console(file=io.StringIO()),
                      external=ExternalTarget("svc", "http://127.0.0.1:1", "a", "b") if external else None)


def test_a_name_only_some_targets_have_is_refused_for_the_others_before_anything_starts() -> None:
    data = with_faults([{"at": "10s", "action": "kill", "service": "catalog"}])
    check_faults(_context(data, ("microservices",)))
    with pytest.raises(ConfigError, match="monolith has no instance 'catalog'; its instances: postgres, app"):
        check_faults(_context(data, ("microservices", "monolith")))


def test_faults_are_refused_with_bench_run_url() -> None:
    data = with_faults([{"at": "10s", "action": "kill", "service": "app"}])
    with pytest.raises(ConfigError, match="bench run --url drives a service archbench did not start"):
        check_faults(_context(data, ("svc",), external=True))


def test_a_cache_is_infrastructure_for_the_role_selectors() -> None:
    from harness.faults import expand_selector
    from harness.registry import get_topology

    topology = get_topology("monolith-redis")
    assert expand_selector("@infra", topology) == ["postgres", "redis"]
    assert expand_selector("@all", topology)[:2] == ["postgres", "redis"]
    assert expand_selector("@broker", get_topology("event-driven-kafka")) == ["kafka"]
