"""The generator-ceiling cache and how ``bench capacity`` defaults capacity.max_rate from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness import calibration
from harness.calibration import (
    GeneratorCeiling,
    cache_path,
    ceiling_key,
    default_max_rate,
    find_ceiling,
    generator_rate_limit,
    read_cache,
    store_ceiling,
    with_ceiling,
    with_generator_ceiling,
)
from harness.config import CapacityConfig, Config, CpuConfig

CEILING = GeneratorCeiling(per_core_rps=9000.0, bare_per_core_rps=9500.0, rounds=3,
                           measured_at="2025-01-02T03:04:05+00:00")


def test_the_key_names_cpu_model_locust_version_and_the_generator_cores() -> None:
    key = ceiling_key("AMD EPYC", "2.47.0", "0")
    assert key == "AMD EPYC | locust 2.47.0 | cpus 0"
    # one CPU set, however it is spelled, is one key; another set or version is another key
    assert ceiling_key("AMD EPYC", "2.47.0", "2-3,0") == ceiling_key("AMD EPYC", "2.47.0", "0,2,3")
    assert ceiling_key("AMD EPYC", "2.47.0", "1") != key
    assert ceiling_key("AMD EPYC", "2.48.0", "0") != key


def test_a_stored_ceiling_is_found_under_its_key_only() -> None:
    document = with_ceiling({}, "host-a", CEILING)
    assert find_ceiling(document, "host-a") == CEILING
    assert find_ceiling(document, "host-b") is None
    both = with_ceiling(document, "host-b", dataclasses.replace(CEILING, per_core_rps=1.0))
    assert find_ceiling(both, "host-a") == CEILING  # other hosts' entries are kept
    assert find_ceiling(both, "host-b").per_core_rps == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize("document", [
    {}, {"version": 99, "ceilings": {"k": dataclasses.asdict(CEILING)}},
    {"version": 1, "ceilings": {"k": {"per_core_rps": "fast"}}},
    {"version": 1, "ceilings": {"k": {**dataclasses.asdict(CEILING), "per_core_rps": 0}}},
    {"version": 1, "ceilings": "k"}, {"version": 1, "ceilings": {"k": []}},
])
def test_an_unusable_cache_entry_is_no_ceiling(document: dict[str, object]) -> None:
    assert find_ceiling(document, "k") is None


def test_the_rate_limit_counts_the_cores_the_generator_processes_can_use() -> None:
    assert generator_rate_limit(CEILING, "0", processes=1) == 9000.0
    assert generator_rate_limit(CEILING, "0,2", processes=1) == 9000.0  # one process: one core
    assert generator_rate_limit(CEILING, "0,2", processes=2) == 18000.0
    assert generator_rate_limit(CEILING, "0", processes=4) == 9000.0  # four processes, one core


def test_max_rate_defaults_to_the_ceiling_only_when_it_is_zero_and_says_so() -> None:
    rate, message = default_max_rate(0.0, CEILING, "0", 1)
    assert rate == 9000.0
    assert "capacity.max_rate = 0" in message and "9,000 req/s" in message and "2025-01-02" in message
    assert default_max_rate(500.0, CEILING, "0", 1) == (500.0, "")  # a configured cap wins, silently
    rate, message = default_max_rate(0.0, None, "0", 1)
    assert rate == 0.0 and "bench calibrate" in message and "not capped" in message


def test_the_cache_round_trips_through_its_file_and_a_broken_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "generator-ceiling.json"
    assert read_cache(path) == {}
    store_ceiling(path, "k", CEILING)
    store_ceiling(path, "other", CEILING)
    assert find_ceiling(read_cache(path), "k") == CEILING
    assert sorted(json.loads(path.read_text())["ceilings"]) == ["k", "other"]
    path.write_text("{not json")
    assert read_cache(path) == {}


def test_the_cache_path_follows_the_environment(tmp_path: Path) -> None:
    assert cache_path({"BENCH_CALIBRATION_CACHE": str(tmp_path / "c.json")}) == tmp_path / "c.json"
    assert cache_path({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "archbench" / "generator-ceiling.json"
    assert cache_path({}).parts[-3:] == (".cache", "archbench", "generator-ceiling.json")


def test_capacity_config_gets_the_cached_ceiling_for_this_host(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibration, "host_key", lambda cpus: f"this host | cpus {cpus}")
    path = tmp_path / "cache.json"
    config = Config(cpu=CpuConfig(generator_cpus="0"), capacity=CapacityConfig(max_rate=0.0))
    said: list[str] = []
    assert with_generator_ceiling(config, said.append, path).capacity.max_rate == 0.0
    assert "not capped" in said[-1]
    store_ceiling(path, "this host | cpus 0", CEILING)
    assert with_generator_ceiling(config, said.append, path).capacity.max_rate == 9000.0
    assert "9,000 req/s" in said[-1]
    capped = dataclasses.replace(config, capacity=CapacityConfig(max_rate=250.0))
    assert with_generator_ceiling(capped, said.append, path) is capped


def test_calibrate_refuses_a_target_core_that_is_the_generator_core(tmp_path: Path) -> None:
    from harness.cli.calibrate import calibrate
    from harness.errors import BenchError

    config = Config(cpu=CpuConfig(generator_cpus="0", target_cpus="0"))
    with pytest.raises(BenchError, match=r"cpu.generator_cpus = '0', cpu.target_cpus = '0'"):
        calibrate(config, rounds=1, seconds=1.0, users=1, path=tmp_path / "cache.json")
    assert not (tmp_path / "cache.json").exists()
