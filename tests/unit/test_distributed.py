"""The distributed generator's pure parts: clock alignment, sample shifting, worker verdicts."""

from __future__ import annotations

import pytest

from harness.config import generator_hosts, load_config
from harness.context import check_url
from harness.distributed import (
    GeneratorHosts,
    master_options,
    parse_master,
    scenario_options,
    summarise_workers,
    with_workers,
    worker_problems,
)
from harness.errors import ConfigError
from harness.results import GeneratorInfo
from scenarios.plan import Stage, arrival_offsets
from scenarios.remote import best_offset, shift_lines


def test_best_offset_takes_the_shortest_round_trip() -> None:
    # worker clock 2 s behind the master; the second round trip is the clean one
    rounds = [(10.0, 12.3, 10.4), (11.0, 13.05, 11.1), (12.0, 14.5, 12.9)]
    offset, trip = best_offset(rounds)
    assert trip == pytest.approx(0.1)
    assert offset == pytest.approx(13.05 - 11.05)


def test_shift_lines_moves_start_and_intended_times_only() -> None:
    text = "100.000000\t5.000\tGET /x\t200\t1\t10\t\t\tu\t99.500000\n100.5\t1.0\tGET /x\t200\t1\t1\t\t\tu\t\n"
    shifted = shift_lines(text, 2.0, (0, 9)).splitlines()
    assert shifted[0].split("\t")[0] == "102.000000" and shifted[0].split("\t")[9] == "101.500000"
    assert shifted[0].split("\t")[1] == "5.000"
    assert shifted[1].split("\t")[0] == "102.500000" and shifted[1].split("\t")[9] == ""
    assert shift_lines(text, 0.0, (0, 9)) == text


def _raw(index: int, requests: int, cpu: list[float], missing: bool = False, trip: float = 0.001) -> dict:
    return {"index": index, "host": "g", "address": "10.0.0.5", "pid": 10 + index, "clock_offset_s": 0.01,
            "round_trip_s": trip, "requests": requests, "cpu_samples_pct": cpu, "missing": missing}


def test_worker_shares_and_problems() -> None:
    workers = summarise_workers([_raw(1, 300, [99.0, 20.0, 30.0]), _raw(0, 100, [0.0, 95.0, 97.0])])
    assert [w["index"] for w in workers] == [0, 1]
    assert workers[0]["request_share"] == pytest.approx(0.25)
    assert workers[1]["cpu_mean_pct"] == pytest.approx(25.0)  # the first reading (since start) is dropped
    problems = worker_problems(workers, expected=2, bound_pct=90.0)
    assert len(problems) == 1 and "generator worker 0" in problems[0] and "CPU-saturated" in problems[0]
    assert worker_problems(workers, expected=2, bound_pct=99.0) == []


def test_missing_too_few_and_unaligned_workers_invalidate() -> None:
    workers = summarise_workers([_raw(0, 10, [], missing=True, trip=-1.0)])
    problems = worker_problems(workers, expected=2, bound_pct=90.0)
    assert any("1 generator worker process(es) reported, 2 expected" in p for p in problems)
    assert any("went missing" in p for p in problems)
    assert any("never answered the clock" in p for p in problems)


def test_with_workers_marks_the_step_bound_with_the_reason() -> None:
    info = GeneratorInfo(cpus="0", processes=1, cpu_mean_pct=1.0, cpu_peak_pct=2.0, bound=False, reason=None)
    workers = summarise_workers([_raw(0, 10, [1.0, 2.0])])
    assert with_workers(info, [], []) is info
    marked = with_workers(info, workers, ["generator worker 0 went missing"])
    assert marked["bound"] and marked["reason"] == "generator worker 0 went missing"
    assert marked["workers"][0]["index"] == 0 and not info["bound"]


def test_master_options_and_global_process_count() -> None:
    hosts = GeneratorHosts(workers=("10.0.0.5", "10.0.0.6"), master_host="10.0.0.4", master_port=6000,
                           processes=3)
    assert master_options(hosts) == ["--master", "--expect-workers", "6", "--master-bind-host", "10.0.0.4",
                                     "--master-bind-port", "6000"]
    assert scenario_options(hosts) == {"processes": 6, "master_host": "10.0.0.4"}
    assert master_options(GeneratorHosts()) == []
    assert scenario_options(GeneratorHosts(processes=2)) == {"processes": 2, "master_host": ""}


def test_arrivals_divide_exactly_over_every_worker_process() -> None:
    stages = (Stage(duration=3.0, users=1, spawn_rate=1.0, rate=333.3),)
    processes = 2 * 3  # two hosts, three processes each: Locust's worker_index runs 0..5
    shares = [list(arrival_offsets(stages, index=i, processes=processes)) for i in range(processes)]
    merged = sorted(t for share in shares for t in share)
    single = list(arrival_offsets(stages))
    assert merged == pytest.approx(single)


def test_generator_config_is_validated_and_combined_with_processes() -> None:
    config = load_config(overrides={"generator.workers": ["10.0.0.5"], "cpu.generator_processes": 2},
                         check_cpus=False)
    assert generator_hosts(config).expected_workers == 2
    with pytest.raises(ConfigError, match=r"--generator-worker .*'http://x' is not a host"):
        load_config(overrides={"generator.workers": ["http://x"]}, check_cpus=False)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_master("10.0.0.4")


def test_remote_urls_need_the_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="--allow-remote-url"):
        check_url("http://10.231.1.2:8080")
    assert check_url("http://10.231.1.2:8080/", allow_remote=True) == "http://10.231.1.2:8080"
    with pytest.raises(ConfigError):
        check_url("ftp://10.231.1.2/", allow_remote=True)
