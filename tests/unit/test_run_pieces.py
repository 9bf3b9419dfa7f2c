"""Pure pieces of `bench run`: stages, pacing, cpusets, profile overrides, hook lines, resources."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.config import load_config
from harness.errors import BenchError, ConfigError
from harness.integrity import AckedOrder, Sighting, acknowledged_orders, time_to_final
from harness.load import parse_cpuset, stage_label
from harness.resources import generator_info, summarise
from harness.run import check_url, resolve_profile
from harness.samples import read_samples
from scenarios.hook import SampleRecorder, classify_failure
from scenarios.plan import pacing, stage_at

STAGES = [{"duration": 10, "users": 5, "spawn_rate": 5}, {"duration": 20, "users": 50, "spawn_rate": 10}]


def test_stage_at_walks_the_stages_and_ends() -> None:
    assert stage_at(STAGES, 0.0) == (0, STAGES[0])
    assert stage_at(STAGES, 9.99) == (0, STAGES[0])
    assert stage_at(STAGES, 10.0) == (1, STAGES[1])
    assert stage_at(STAGES, 30.0) is None


def test_pacing_spreads_the_rate_over_the_peak_user_count() -> None:
    assert pacing(200.0, STAGES) == 4.0  # 50 users x 4 tasks/s = 200 requests/s


def test_cpusets() -> None:
    assert parse_cpuset("0") == {0}
    assert parse_cpuset("1-3") == {1, 2, 3}
    assert parse_cpuset("0,2-3") == {0, 2, 3}
    assert parse_cpuset("") == set()
    with pytest.raises(BenchError, match="not valid"):
        parse_cpuset("zero")
    with pytest.raises(BenchError, match="backwards"):
        parse_cpuset("3-1")


def test_stage_label() -> None:
    profile = load_config().profile("ramp")
    assert stage_label(profile, 0) == "1/4 (10 users)"
    assert stage_label(profile, 95) == "4/4 (100 users)"
    assert stage_label(profile, 500) == "stopping"


def test_resolve_profile_overrides_users_and_scales_duration() -> None:
    config = load_config()
    ramp = resolve_profile(config, "ramp", users=7, duration=60.0)
    assert [s.users for s in ramp.stages] == [7, 7, 7, 7]
    assert [s.duration for s in ramp.stages] == [15.0, 15.0, 15.0, 15.0]
    assert ramp.warmup == 5.0
    short = resolve_profile(config, "quick", duration=8.0)
    assert short.duration == 8.0 and short.warmup == 4.0  # warm-up capped at half
    assert resolve_profile(config, "smoke") == config.profile("smoke")
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        resolve_profile(config, "nope")


def test_check_url_refuses_anything_but_loopback() -> None:
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    for bad in ("http://10.0.0.1:80", "http://example.com", "ftp://127.0.0.1"):
        with pytest.raises(ConfigError, match="127.0.0.1"):
            check_url(bad)


def test_failure_classes_from_status_and_exception() -> None:
    assert classify_failure(200, None) == ""
    assert classify_failure(404, RuntimeError("bad status")) == "4xx"
    assert classify_failure(503, RuntimeError("bad status")) == "5xx"
    assert classify_failure(0, ConnectionRefusedError(111, "refused")) == "connection"
    assert classify_failure(0, TimeoutError("timed out")) == "timeout"
    assert classify_failure(0, ValueError("odd")) == "other"


def test_recorder_lines_parse_back_as_samples(tmp_path: Path) -> None:
    class Response:
        status_code = 202

    recorder = SampleRecorder(str(tmp_path))
    recorder.on_request("POST", "/orders", 12.5, 40, Response(), {"user": "u1", "order_id": "o-1"}, None, 100.25)
    recorder.on_request("GET", "/products", 3.0, 0, None, {"user": "u1"}, ConnectionResetError(), 100.5)
    recorder.flush()
    samples = read_samples(tmp_path)
    assert samples["name"].astype(str).tolist() == ["POST /orders", "GET /products"]
    assert samples["status"].tolist() == [202, 0]
    assert samples["ok"].tolist() == [True, False]
    assert samples["error"].astype(str).tolist() == ["", "connection"]
    assert samples["order_id"].astype(str).tolist() == ["o-1", ""]
    assert samples["user"].astype(str).tolist() == ["u1", ""]  # user kept for orders only
    orders = acknowledged_orders(samples)
    assert orders == [AckedOrder("o-1", "u1", 202, pytest.approx(100.2625))]


def _resources() -> pd.DataFrame:
    rows = [(-1.0, "app", 10.0, 0.0, 100), (1.0, "app", 10.5, 50.0, 300), (2.0, "app", 11.5, 100.0, 200),
            (3.0, "app", 11.6, 10.0, 200), (1.0, "generator", 5.0, 95.0, 9), (2.0, "generator", 6.0, 95.0, 9),
            (3.0, "generator", 6.9, 90.0, 9)]
    return pd.DataFrame(rows, columns=["t_s", "name", "cpu_seconds", "cpu_pct", "rss_bytes"])


def test_resource_summary_over_the_window() -> None:
    (app, generator) = summarise(_resources(), 1.0, 3.0)
    assert app["name"] == "app"
    assert app["cpu_seconds"] == pytest.approx(1.1)
    assert app["cpu_mean_pct"] == pytest.approx(55.0)  # first reading only anchors
    assert app["cpu_peak_pct"] == 100.0
    assert app["rss_peak_bytes"] == 300
    assert generator["name"] == "generator"


def test_generator_bound_rule() -> None:
    bound = generator_info(_resources(), 1.0, 3.0, cpus="0", processes=1, bound_pct=90.0)
    assert bound["bound"] and bound["cpu_mean_pct"] == pytest.approx(92.5)
    assert "measure the generator" in (bound["reason"] or "")
    spread = generator_info(_resources(), 1.0, 3.0, cpus="0-1", processes=2, bound_pct=90.0)
    assert not spread["bound"] and spread["reason"] is None  # per process: 46%
    empty = generator_info(_resources(), 10.0, 20.0, cpus="0", processes=1, bound_pct=90.0)
    assert empty["cpu_mean_pct"] is None and not empty["bound"]


def test_time_to_final_distribution_and_resolution() -> None:
    sightings = [Sighting(ack_s=0.0, final_s=v / 1000, gap_s=g / 1000) for v, g in ((10, 5), (20, 5), (30, 7))]
    result = time_to_final(sightings)
    assert result["count"] == 3
    assert result["p50_ms"] == pytest.approx(20.0)
    assert result["max_ms"] == pytest.approx(30.0)
    assert result["resolution_ms"] == pytest.approx(5.0)
    assert time_to_final([])["p50_ms"] is None


@pytest.mark.parametrize("args, message", [
    (["run", "--profile", "nope"], "unknown profile 'nope'"),
    (["run", "nosuch", "--backend", "local"], "unknown target 'nosuch'"),
    (["run", "--url", "http://10.1.2.3:80", "--admin-user", "a", "--admin-password", "b"], "127.0.0.1"),
    (["run", "--url", "http://127.0.0.1:9"], "admin credentials"),
    (["run", "--duration", "soon"], "not a duration"),
])
def test_bad_options_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    from harness.cli import main

    runner = CliRunner()
    result = runner.invoke(cli, [*args, "--out", str(tmp_path)])
    assert result.exit_code != 0
    text = (result.output or "") + str(result.exception or "")
    assert message in text
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert not any(tmp_path.iterdir())  # nothing started, no run directory
