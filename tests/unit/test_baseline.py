"""Baselines (save/load) and the whole gate over a run directory, including the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from report_fixture import FIXTURE, copy_fixture, edit_results

from harness.cli import main
from harness.config import RegressionConfig, load_config
from harness.errors import BenchError
from harness.gate.baseline import BASELINE_SCHEMA, load_baseline, resolve_baseline, save_baseline
from harness.gate.command import evaluate_run, gate_run

CONFIG = load_config()


def slow_down(run_dir: Path, target: str, factor: float) -> None:
    """Multiply every latency of ``target`` by ``factor`` (samples and summary)."""
    path = run_dir / target / "samples.parquet"
    frame = pq.read_table(path).to_pandas()
    frame["latency_ms"] *= factor
    frame.to_parquet(path, compression="zstd", index=False)

    def edit(results: dict) -> None:
        summary = results["targets"][target]["summary"]
        for key in ("mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms", "max_ms"):
            summary[key] *= factor

    edit_results(run_dir, edit)


def test_save_writes_a_small_baseline_without_raw_samples(tmp_path: Path) -> None:
    path = save_baseline(FIXTURE, tmp_path)
    assert path == tmp_path / "fixture.json"  # default name: the run's profile
    assert path.stat().st_size < 64 * 1024
    data = json.loads(path.read_text())
    assert data["schema"] == BASELINE_SCHEMA
    monolith = data["targets"]["monolith"]
    assert set(monolith) == {"profile", "backend", "duration_s", "summary", "endpoints", "integrity", "noise"}
    assert monolith["summary"]["p95_ms"] == json.loads((FIXTURE / "results.json").read_text())[
        "targets"]["monolith"]["summary"]["p95_ms"]
    # the histograms hold exactly the measured window's requests
    assert sum(map(sum, monolith["noise"]["counts"])) == monolith["summary"]["requests"]
    baseline = load_baseline(path)
    assert baseline.name == "fixture" and set(baseline.targets) == {"monolith", "microservices", "event-driven"}
    assert baseline.targets["monolith"].histograms is not None


def test_bad_names_and_files_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="baseline name '../x' is not valid"):
        save_baseline(FIXTURE, tmp_path, name="../x")
    (tmp_path / "old.json").write_text(json.dumps({"schema": "archbench/baseline@0"}))
    with pytest.raises(BenchError, match="schema 'archbench/baseline@0' is not supported.*bench baseline save"):
        load_baseline(tmp_path / "old.json")
    (tmp_path / "cut.json").write_text('{"schema": "archbench/baseline@1", "targets": {')
    with pytest.raises(BenchError, match="not valid JSON"):
        load_baseline(tmp_path / "cut.json")
    (tmp_path / "odd.json").write_text(json.dumps({"schema": BASELINE_SCHEMA, "targets": {"m": {}}}))
    with pytest.raises(BenchError, match="damaged"):
        load_baseline(tmp_path / "odd.json")


def test_baselines_resolve_by_path_or_name(tmp_path: Path) -> None:
    path = save_baseline(FIXTURE, tmp_path, name="main")
    assert resolve_baseline("main", tmp_path) == path
    assert resolve_baseline(path, tmp_path / "elsewhere") == path
    with pytest.raises(BenchError, match="baseline 'nope' not found; saved baselines in .*: main"):
        resolve_baseline("nope", tmp_path)


def test_same_run_against_its_own_baseline_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    baseline = save_baseline(FIXTURE, tmp_path)
    junit = tmp_path / "out" / "junit.xml"
    assert gate_run(copy_fixture(tmp_path), CONFIG, baseline=baseline, junit=junit) == 0
    cases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    assert len(cases) == 9 + 6  # 3 thresholds x 3 targets + 2 regression metrics x 3 targets
    assert all(case.find("failure") is None and case.find("error") is None for case in cases)
    text = summary.read_text()
    assert text.startswith("earlier step\n### archbench gate: PASS")  # appended, not replaced


def test_a_50_percent_slower_target_fails_the_regression_gate(tmp_path: Path) -> None:
    baseline = save_baseline(FIXTURE, tmp_path)
    run_dir = copy_fixture(tmp_path)
    slow_down(run_dir, "monolith", 1.5)
    checks = evaluate_run(run_dir, CONFIG, thresholds=(), baseline=baseline)
    verdicts = {(c.scope, c.name): c.verdict for c in checks}
    assert verdicts[("monolith", "p95 regression")] == "fail"
    assert verdicts[("microservices", "p95 regression")] == "pass"
    failing = next(c for c in checks if c.verdict == "fail")
    assert float(failing.value.rstrip("%")) == pytest.approx(50.0, abs=1.0)  # binned: within 5 % bins
    assert failing.limit == "+15%"
    assert "significant and over the limit" in failing.detail
    assert gate_run(run_dir, CONFIG, thresholds=(), baseline=baseline) == 1


def test_regression_on_another_profile_or_missing_target_could_not_be_evaluated(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def edit(results: dict) -> None:
        results["targets"]["monolith"]["profile"]["name"] = "quick"
        del results["targets"]["event-driven"]

    baseline_dir = tmp_path / "baselines"
    edit_results(run_dir, edit)
    baseline = save_baseline(FIXTURE, baseline_dir)
    other = copy_fixture(tmp_path / "b")
    edit_results(other, lambda r: r["targets"].pop("microservices"))
    partial = save_baseline(other, baseline_dir, name="partial")
    checks = evaluate_run(run_dir, CONFIG, thresholds=(), baseline=baseline)
    monolith = [c for c in checks if c.scope == "monolith"]
    assert monolith and all(c.verdict == "error" and "profile 'fixture', this run with 'quick'" in c.detail
                            for c in monolith)
    checks = evaluate_run(run_dir, CONFIG, thresholds=(), baseline=partial)
    micro = [c for c in checks if c.scope == "microservices"]
    assert micro and all(c.verdict == "error" and "has no target 'microservices'" in c.detail for c in micro)
    assert gate_run(run_dir, CONFIG, thresholds=(), baseline=partial) == 2


def test_nothing_to_check_could_not_be_evaluated(tmp_path: Path) -> None:
    config = replace(CONFIG, gate=replace(CONFIG.gate, thresholds=()))
    (check,) = evaluate_run(FIXTURE, config)
    assert check.verdict == "error" and "no thresholds and no baseline" in check.detail
    assert gate_run(copy_fixture(tmp_path), config) == 2


def test_bad_regression_metric_names_the_valid_ones() -> None:
    config = replace(CONFIG, gate=replace(CONFIG.gate, regression=RegressionConfig(metrics=("p95", "rps"))))
    with pytest.raises(BenchError, match="'rps' cannot be regression-tested; valid metrics: p50, p90"):
        evaluate_run(FIXTURE, config, baseline=FIXTURE)


def run_cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_cli_gate_impossible_threshold_exits_1_and_junit_shows_it(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code = run_cli(["gate", str(copy_fixture(tmp_path)), "--threshold", "p50 < 0.001ms", "--threshold", "lost == 0",
                    "--junit", str(junit)])
    assert code == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "3"
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["p50 < 0.001ms"] * 3


def test_cli_thresholds_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = copy_fixture(tmp_path)
    monkeypatch.setenv("BENCH_THRESHOLDS", "p95 < 1s; error_rate < 1%")
    assert run_cli(["gate", str(run_dir)]) == 0
    monkeypatch.setenv("BENCH_THRESHOLDS", "p95 < 1s; p95 < 50ms")
    assert run_cli(["gate", str(run_dir)]) == 1


def test_cli_bad_threshold_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["gate", str(FIXTURE), "--threshold", "p95 < 200"]) == 2
    assert "threshold 'p95 < 200': latency '200' has no unit" in capsys.readouterr().err


def test_cli_baseline_save_then_gate_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "baselines"
    assert run_cli(["baseline", "save", str(FIXTURE), "--name", "ci", "--dir", str(directory)]) == 0
    assert (directory / "ci.json").exists()
    assert "wrote" in capsys.readouterr().out
    assert run_cli(["gate", str(copy_fixture(tmp_path)), "--baseline", str(directory / "ci.json")]) == 0


def test_too_short_or_unreadable_runs_cannot_be_regression_tested(tmp_path: Path) -> None:
    baseline = save_baseline(FIXTURE, tmp_path)
    short = copy_fixture(tmp_path / "short")
    edit_results(short, lambda r: r["targets"]["monolith"].update(duration_s=5.0))
    (tmp_path / "broken").mkdir()
    broken = copy_fixture(tmp_path / "broken")
    (broken / "microservices" / "samples.parquet").write_bytes(b"not parquet")
    checks = evaluate_run(short, CONFIG, thresholds=(), baseline=baseline)
    monolith = [c for c in checks if c.scope == "monolith"]
    assert all(c.verdict == "error" and "5 time windows" in c.detail for c in monolith)
    checks = evaluate_run(broken, CONFIG, thresholds=(), baseline=baseline)
    micro = [c for c in checks if c.scope == "microservices"]
    assert all(c.verdict == "error" and "cannot read samples" in c.detail for c in micro)
    assert {c.verdict for c in checks if c.scope == "monolith"} == {"pass"}


def test_baseline_none_or_empty_disables_the_regression_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: `bench gate --baseline none` exited 2 with "baseline 'none' not found"
    run_dir = copy_fixture(tmp_path)
    configured = replace(CONFIG, gate=replace(CONFIG.gate, baseline=str(save_baseline(FIXTURE, tmp_path))))
    assert any(c.name.endswith("regression") for c in evaluate_run(run_dir, configured))
    for off in ("none", "None", ""):
        checks = evaluate_run(run_dir, configured, baseline=off)
        assert checks and not any(c.name.endswith("regression") for c in checks)
        assert gate_run(run_dir, replace(configured, gate=replace(configured.gate, baseline=off))) == 0
    assert run_cli(["gate", str(run_dir), "--baseline", "none"]) == 0
    assert "not found" not in capsys.readouterr().err


def test_the_regression_row_shows_the_exact_percentile_of_the_threshold_row(tmp_path: Path) -> None:
    # before: 'p95 < 2s' showed the exact p95 and 'p95 regression' a binned one (74.54 vs 74.35 ms)
    run_dir = copy_fixture(tmp_path)
    checks = evaluate_run(run_dir, CONFIG, thresholds=("monolith: p95 < 2s",), baseline=save_baseline(FIXTURE, tmp_path))
    threshold = next(c for c in checks if c.name == "p95 < 2s")
    regression = next(c for c in checks if c.name == "p95 regression" and c.scope == "monolith")
    assert regression.detail.startswith(f"p95 {threshold.value} vs baseline {threshold.value} (exact); ")
    assert "estimated on 5%-wide histogram bins" in regression.detail


def make_invalid(run_dir: Path) -> None:
    edit_results(run_dir, lambda r: r["targets"]["monolith"].update(
        valid={"ok": False, "reasons": ["interrupted (SIGTERM) after 30.0s of the profile's 60.0s"]}))


def test_an_invalid_run_could_not_be_evaluated_with_the_reasons_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: an interrupted INVALID run passed 'p95 < 2s' (exit 0)
    run_dir = copy_fixture(tmp_path)
    make_invalid(run_dir)
    edit_results(run_dir, lambda r: [r["targets"].pop(n) for n in ("microservices", "event-driven")])
    assert run_cli(["gate", str(run_dir), "--threshold", "p95 < 2s", "--baseline", "none"]) == 2
    out = capsys.readouterr().out
    assert "could not evaluate monolith: the run of monolith is INVALID (interrupted (SIGTERM)" in out
    assert json.loads((run_dir / "gate.json").read_text())["status"] == "COULD NOT EVALUATE"


def test_baseline_save_refuses_an_invalid_run_with_the_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: `bench baseline save` accepted an interrupted INVALID run silently
    run_dir = copy_fixture(tmp_path)
    make_invalid(run_dir)
    with pytest.raises(BenchError, match=r"the run is INVALID, so it cannot be a baseline \(monolith: interrupted"):
        save_baseline(run_dir, tmp_path / "baselines")
    assert run_cli(["baseline", "save", str(run_dir), "--dir", str(tmp_path / "baselines")]) == 2
    assert "interrupted (SIGTERM)" in capsys.readouterr().err
    assert not (tmp_path / "baselines").exists()


def test_gate_writes_gate_json_atomically_next_to_the_results(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    baseline = save_baseline(FIXTURE, tmp_path, name="main")
    assert gate_run(run_dir, CONFIG, thresholds=("p95 < 2s", "event-driven: ttf_p99 < 1ms"), baseline=baseline) == 1
    document = json.loads((run_dir / "gate.json").read_text())
    assert (document["status"], document["exit_code"]) == ("FAIL", 1)
    assert document["baseline"]["name"] == "main" and document["baseline"]["path"] == str(baseline)
    ttf = next(c for c in document["checks"] if c["metric"] == "ttf_p99")
    assert (ttf["target"], ttf["verdict"], ttf["limit"]) == ("event-driven", "fail", "1ms")
    assert ttf["value"].endswith("ms")
    regression = next(c for c in document["checks"] if c["kind"] == "regression")
    assert (regression["op"], regression["limit"]) == ("<=", "+15%") and regression["value"].endswith("%")
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".gate.json")] == []  # no temp file left


def test_a_regression_limit_without_percent_sign_is_refused(tmp_path: Path) -> None:
    # before: limit = "15" meant +1500% and a real +50% regression passed
    config = replace(CONFIG, gate=replace(CONFIG.gate, regression=RegressionConfig(limit=15.0)))
    with pytest.raises(BenchError, match=r"gate.regression.limit = 15 means \+1500%"):
        evaluate_run(copy_fixture(tmp_path), config, baseline=save_baseline(FIXTURE, tmp_path))


def test_bench_run_gate_uses_the_same_gate_and_honours_baseline_none(tmp_path: Path) -> None:
    from harness.run import run_exit_code

    run_dir = copy_fixture(tmp_path)
    config = replace(CONFIG, gate=replace(CONFIG.gate, baseline="none"))  # `bench run --gate --baseline none`
    assert run_exit_code(run_dir, config, gate=True) == 0
    assert json.loads((run_dir / "gate.json").read_text())["status"] == "PASS"


# -- capacity baselines (issue 12 item 3) ------------------------------------------------------


def test_a_capacity_baseline_stores_the_capacity_and_gates_a_drop(tmp_path: Path) -> None:
    from report_fixture import copy_capacity_fixture

    run_dir = copy_capacity_fixture(tmp_path / "a")
    path = save_baseline(run_dir, tmp_path / "baselines", name="capacity")
    stored = json.loads(path.read_text())["targets"]["monolith"]["capacity"]
    assert stored == {"slo": ["p99 < 200ms", "error_rate < 1%"], "kind": "bracketed", "capacity_rps": 400.0,
                      "low_rps": 400.0, "high_rps": 440.0, "generator_limited": False, "description": "400/s"}
    assert load_baseline(path).targets["monolith"].capacity == stored

    same = evaluate_run(run_dir, CONFIG, thresholds=("capacity > 100",), baseline=path)
    regression = {c.scope: c for c in same if c.kind == "regression"}
    assert set(regression) == {"monolith", "microservices", "event-driven"}  # one capacity row each, no p95/p99
    assert all(c.name == "capacity regression" and c.verdict == "pass" for c in regression.values())
    assert regression["monolith"].value == "+0.0%" and regression["monolith"].limit == "-15%"

    dropped = copy_capacity_fixture(tmp_path / "b")

    def drop(results: dict) -> None:
        results["targets"]["monolith"]["capacity"].update(capacity_rps=300.0, low_rps=300.0, high_rps=330.0)

    edit_results(dropped, drop)
    checks = {c.scope: c for c in evaluate_run(dropped, CONFIG, thresholds=(), baseline=path)}
    assert checks["monolith"].verdict == "fail" and checks["monolith"].value == "-25.0%"
    assert checks["microservices"].verdict == "pass"
    assert gate_run(dropped, CONFIG, thresholds=(), baseline=path) == 1


def test_open_model_samples_are_binned_from_their_intended_start(tmp_path: Path) -> None:
    """The gate's histograms (and the report's distribution) use the response time, as the summary does."""
    import pyarrow as pa

    from harness.gate.baseline import read_response_times

    path = tmp_path / "samples.parquet"
    pq.write_table(pa.table({"start_s": [10.5, 11.0, 12.0], "latency_ms": [5.0, 5.0, 5.0],
                             "intended_s": [10.0, 11.0, float("nan")]}), path)
    start, latency = read_response_times(path)
    assert start.tolist() == [10.0, 11.0, 12.0]  # intended start; none recorded: the send
    assert latency.tolist() == pytest.approx([505.0, 5.0, 5.0])  # waited 500 ms behind the schedule
    pq.write_table(pa.table({"start_s": [10.5], "latency_ms": [5.0]}), path)  # closed model: as recorded
    assert read_response_times(path)[1].tolist() == [5.0]
