"""Pure pieces of `bench run`: stages, pacing, cpusets, profile overrides, hook lines, resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.config import load_config
from harness.context import check_url, resolve_profile
from harness.cpus import parse_cpu_list as parse_cpuset
from harness.errors import BenchError, ConfigError
from harness.integrity import AckedOrder, Sighting, acknowledged_orders, time_to_final
from harness.resources import generator_info, summarise
from harness.samples import read_samples
from scenarios.hook import SampleRecorder, classify_failure
from scenarios.plan import Stage, pacing, stage_at, stage_label

STAGES = [Stage(duration=10, users=5, spawn_rate=5), Stage(duration=20, users=50, spawn_rate=10)]


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
    assert stage_label(profile.stages, 0) == "1/4 (10 users)"
    assert stage_label(profile.stages, 95) == "4/4 (100 users)"
    assert stage_label(profile.stages, 500) == "stopping"


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


# -- run context, verdict, integrity "not checked", signals (issues 9 and 11) --------------


def test_profiles_carry_their_name_and_keep_it_through_overrides() -> None:
    config = load_config()
    assert config.profile("ramp").name == "ramp"
    assert resolve_profile(config, "ramp", users=3, duration=20.0).name == "ramp"


def test_create_context_resolves_profile_backend_and_run_dir_once(tmp_path: Path) -> None:
    from rich.console import Console

    from harness.context import RunRequest, create_context

    config = load_config(overrides={"run.out": str(tmp_path), "run.profile": "smoke", "run.backend": "local"})
    context = create_context(config, RunRequest(targets=("monolith",), duration=6.0, name="x"),
                             Console(file=__import__("io").StringIO()))
    assert context.profile.name == "smoke" and context.profile.duration == 6.0
    assert context.backend is not None and context.backend.name == "local"
    assert context.targets == ("monolith",) and context.external is None
    assert context.run_dir == tmp_path / context.run_id and context.run_dir.is_dir()
    assert context.run_id.endswith("-x")
    external = create_context(config, RunRequest(url="http://127.0.0.1:9/", admin_user="a", admin_password="b"))
    assert external.backend is None and external.targets == ("127.0.0.1-9",)
    assert external.external is not None and external.external.url == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match="not both"):
        create_context(config, RunRequest(targets=("monolith",), url="http://127.0.0.1:9"))


def test_one_run_id_shape_for_runs_and_deployments() -> None:
    from harness.context import new_run_id

    assert len(new_run_id()) == len("20261125-193012")
    assert new_run_id("label").endswith("-label")
    assert new_run_id(prefix="verify").startswith("verify-")


def test_integrity_without_orders_is_not_checked_rather_than_ok() -> None:
    from harness.integrity import integrity_unchecked
    from harness.results import integrity_checked, schema_problems
    from harness.run import format_integrity

    unchecked = integrity_unchecked(0, "no orders were acknowledged")
    assert unchecked["ok"] is False and not integrity_checked(unchecked)
    assert unchecked["reasons"] == ["not checked: no orders were acknowledged"]
    assert unchecked["lost"] is None and unchecked["found"] is None
    assert schema_problems(unchecked, __import__("harness.results").results.Integrity) == []
    old_file = {k: v for k, v in unchecked.items() if k != "checked"}
    assert integrity_checked(old_file)  # type: ignore[arg-type]  # files before `checked`: checked
    result = {"integrity": integrity_unchecked(1000, "interrupted (SIGTERM)")}
    assert format_integrity(result) == "integrity not checked (1000 orders acknowledged, unchecked)"  # type: ignore[arg-type]


def _verdict_results(valid: bool, integrity_ok: bool, checked: bool = True) -> dict:
    return {"targets": {"monolith": {
        "valid": {"ok": valid, "reasons": [] if valid else ["only 0 requests in the measured window"]},
        "integrity": {"ok": integrity_ok, "checked": checked,
                      "reasons": [] if integrity_ok else ["3 of 9 acknowledged orders were never found"]},
    }}}


def test_an_invalid_run_exits_1_with_its_reasons_unless_allowed() -> None:
    from harness.run import run_verdict

    verdict = run_verdict(_verdict_results(valid=False, integrity_ok=True))  # type: ignore[arg-type]
    assert verdict.exit_code() == 1
    assert verdict.reasons() == ["monolith: invalid: only 0 requests in the measured window"]
    assert verdict.exit_code(allow_invalid=True) == 0 and verdict.reasons(allow_invalid=True) == []
    assert run_verdict(_verdict_results(True, True)).exit_code() == 0  # type: ignore[arg-type]
    lost = run_verdict(_verdict_results(True, False))  # type: ignore[arg-type]
    assert lost.exit_code(allow_invalid=True) == 1 and "never found" in lost.reasons()[0]
    unchecked = run_verdict(_verdict_results(True, False, checked=False))  # type: ignore[arg-type]
    assert unchecked.exit_code() == 0  # not checked is not a failure by itself: validity decides


def _validity_inputs(tmp_path: Path, *, acknowledged: int, interrupted: str | None = None,
                     place_order: int = 15):
    import dataclasses

    from harness.analysis import Analysis, Window
    from harness.integrity import integrity_unchecked
    from harness.load import LoadOutcome
    from harness.measure import LoadRecord

    config = load_config()
    config = dataclasses.replace(config, scenario=dataclasses.replace(config.scenario, place_order=place_order))
    profile = config.profile("smoke")
    start = 1_800_000_000.0
    outcome = None if interrupted else LoadOutcome(start, start + profile.duration, 0, tmp_path / "l", False)
    load = LoadRecord(start_s=start, end_s=start + profile.duration, samples=pd.DataFrame(),
                      resources=pd.DataFrame(), outcome=outcome, interrupted=interrupted)
    analysis = Analysis(window=Window(start, start, start), summary={}, endpoints=[],  # type: ignore[typeddict-item]
                        timeseries=pd.DataFrame(), valid={"ok": True, "reasons": []})
    return config, profile, load, analysis, integrity_unchecked(acknowledged, "x")


def test_a_run_that_places_orders_but_acknowledged_none_is_invalid(tmp_path: Path) -> None:
    from harness.measure import validity

    valid = validity(*_validity_inputs(tmp_path, acknowledged=0))
    assert not valid["ok"] and "none was acknowledged" in valid["reasons"][0]
    assert validity(*_validity_inputs(tmp_path, acknowledged=0, place_order=0))["ok"]


def test_an_interrupted_run_names_its_signal(tmp_path: Path) -> None:
    from harness.context import Interrupted, interrupt_name
    from harness.measure import validity

    assert interrupt_name(Interrupted("SIGTERM")) == "SIGTERM"
    assert interrupt_name(KeyboardInterrupt()) == "SIGINT"
    valid = validity(*_validity_inputs(tmp_path, acknowledged=1000, interrupted="SIGTERM"))
    assert valid["reasons"][0] == "interrupted (SIGTERM): partial measurement"


def test_scenario_settings_come_from_config_and_survive_json() -> None:
    import json

    from harness.seed import SeedResult
    from scenarios.settings import ScenarioSettings

    config = load_config()
    profile = config.profile("ramp")
    seed = SeedResult(credentials=[("u", "p")], product_ids=[1, 2], stock_seeded=0, conserved_total=0,
                      stats={}, seconds=0.0)
    settings = ScenarioSettings.from_config(config.scenario, seed, profile, samples_dir="/s")
    assert settings.weights["place_order"] == config.scenario.place_order
    assert settings.stages == profile.stages and settings.rate == profile.rate
    assert ScenarioSettings.from_dict(json.loads(settings.to_json())) == settings


def test_the_console_outcome_of_an_unchecked_integrity_is_not_a_failure() -> None:
    # before: "[red]integrity: not checked: ..." read as a failed integrity check
    from harness.integrity import integrity_unchecked
    from harness.run import outcome_lines

    summary = {"requests": 10, "rps": 5.0, "p95_ms": 12.0, "error_rate": 0.0}
    result: Any = {"target": "monolith", "summary": summary, "valid": {"ok": True, "reasons": []},
                   "generator": {"bound": False, "reason": None},
                   "integrity": integrity_unchecked(1000, "interrupted (SIGTERM)")}
    lines = outcome_lines(result)
    assert lines[1] == "  [yellow]integrity not checked: interrupted (SIGTERM)[/yellow]"
    assert not any("[red]" in line or "FAILED" in line for line in lines)
    result["integrity"] = {**result["integrity"], "checked": True, "lost": 3, "found": 997,
                           "reasons": ["3 acknowledged orders missing"]}
    assert outcome_lines(result)[1] == "  [red]integrity: 3 acknowledged orders missing[/red]"


BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.name for path in BENCHMARKS])
def test_every_benchmark_script_imports_and_parses_help(script: Path) -> None:
    # before: run_overhead.py read --help as a run directory, gate_regression.py ran its whole
    # benchmark, and hook_overhead.py still built LoadPlan(profile_name=...) (type-checked below)
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                            timeout=120, check=False, cwd=script.parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:"), result.stdout[:200]


def test_hook_overhead_builds_its_plan_with_the_current_load_api(tmp_path: Path) -> None:
    # before: ScenarioSettings(stages=[dict]) and LoadPlan(profile_name=...) raised a TypeError
    # only after a target had been started and seeded
    import importlib.util

    from harness.seed import SeedResult
    from scenarios.plan import Stage

    spec = importlib.util.spec_from_file_location("hook_overhead", BENCHMARKS[0].parent / "hook_overhead.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seed = SeedResult(credentials=[("u", "p")], product_ids=[1], stock_seeded=1, conserved_total=1, stats={},
                      seconds=0.0)
    plan = module.make_plan(load_config(), "monolith", "http://127.0.0.1:9", seed, seconds=5.0, users=3,
                            workdir=tmp_path)
    assert plan.profile.name == "hook" and plan.settings.stages == (Stage(duration=5.0, users=3, spawn_rate=3.0),)
    assert plan.settings.credentials == [("u", "p")]


def test_stock_held_by_open_reservations_is_a_note_not_a_conservation_failure() -> None:
    from harness.integrity import conservation

    assert conservation(100, {"stock_total": 90, "units_sold": 10}) == ([], [])
    problems, notes = conservation(100, {"stock_total": 85, "units_sold": 10, "units_reserved": 5})
    assert problems == [] and "5 units are held by reservations" in notes[0]
    problems, _ = conservation(100, {"stock_total": 84, "units_sold": 10, "units_reserved": 5})
    assert "went from 100 to 94 (5 units held" in problems[0]  # more missing than held: lost
    problems, _ = conservation(100, {"stock_total": 95, "units_sold": 10})
    assert problems  # more than seeded: never explained
