"""results.json: what the runner builds survives dump -> load unchanged and conforms to the schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis import Window, analyse
from harness.config import load_config
from harness.errors import BenchError
from harness.integrity import Sighting, time_to_final
from harness.load import LoadOutcome
from harness.measure import LoadRecord, TargetUnderTest, assemble, endpoints_csv
from harness.results import (
    SCHEMA,
    Integrity,
    Results,
    TargetResult,
    dump_results,
    load_results,
    schema_problems,
)
from harness.samples import ANALYSIS_COLUMNS, read_parquet, read_samples, write_parquet

T0 = 1_800_000_000.0


def _samples(tmp_path: Path) -> pd.DataFrame:
    """Write two per-process hook files and merge them the way the runner does."""
    directory = tmp_path / "samples"
    directory.mkdir()
    (directory / "samples-11.tsv").write_text(
        f"{T0 + 3.0:.6f}\t12.5\tPOST /orders\t202\t1\t40\t\tord-1\tshopper-1\n"
        f"{T0 + 1.0:.6f}\t3.0\tGET /products\t200\t1\t900\t\t\t\n"
    )
    (directory / "samples-12.tsv").write_text(
        f"{T0 + 2.5:.6f}\t10000.0\tGET /products/{{id}}\t0\t0\t0\ttimeout\t\t\n"
        f"{T0 + 4.0:.6f}\t7.0\tGET /products\t503\t0\t60\t5xx\t\t\n"
    )
    return read_samples(directory)


def test_merged_samples_are_time_ordered_and_survive_parquet(tmp_path: Path) -> None:
    samples = _samples(tmp_path)
    assert list(samples["start_s"] - T0) == [1.0, 2.5, 3.0, 4.0]
    assert samples["order_id"].astype(str).tolist() == ["", "", "ord-1", ""]
    back = read_parquet(write_parquet(samples, tmp_path / "samples.parquet"))
    pd.testing.assert_frame_equal(back, samples)
    analysis_only = read_parquet(tmp_path / "samples.parquet", ANALYSIS_COLUMNS)
    assert list(analysis_only.columns) == list(ANALYSIS_COLUMNS)
    assert analysis_only["ok"].tolist() == [True, False, True, False]


def _target_result(tmp_path: Path) -> TargetResult:
    """What the runner's pure ``assemble`` step builds from the phase records."""
    config = load_config()
    config = dataclasses.replace(config, cpu=dataclasses.replace(config.cpu, generator_bound_pct=45.0))
    profile = config.profile("smoke")
    samples = _samples(tmp_path)
    window = Window.after_warmup(T0, T0 + 5.0, warmup_s=2.0)
    analysis = analyse(samples, window, min_requests=1, max_error_rate=0.9)
    resources = pd.DataFrame(
        [(-1.0, "app", 1.0, 0.0, 100), (2.0, "app", 1.5, 50.0, 200), (3.0, "app", 2.5, 100.0, 150),
         (2.0, "generator", 1.0, 40.0, 10), (3.0, "generator", 1.5, 50.0, 10)],
        columns=["t_s", "name", "cpu_seconds", "cpu_pct", "rss_bytes"],
    )
    integrity = Integrity(
        acknowledged=1, found=1, lost=0, final={"confirmed": 1}, not_final=0,
        time_to_final=time_to_final([Sighting(ack_s=T0 + 3.0125, final_s=T0 + 3.0625, gap_s=0.01)]),
        stats={"orders": {"confirmed": 1}}, ok=True, reasons=[], checked=True,
    )
    target = TargetUnderTest(name="event-driven", backend="local", url="http://127.0.0.1:1", admin_username="a",
                             admin_password="p", services=[
        {"name": "api", "role": "service", "cpus": 1.0, "memory_mb": 256, "workers": 1}])
    outcome = LoadOutcome(start_s=T0, end_s=T0 + 5.0, exit_code=0, log=tmp_path / "locust.log", timed_out=False)
    load = LoadRecord(start_s=T0, end_s=T0 + 5.0, samples=samples, resources=resources, outcome=outcome)
    result = assemble(config, profile, target, load, analysis, integrity)
    result["timings"] = {"load_s": 5.0}
    return result


def test_a_runner_built_result_round_trips_and_conforms(tmp_path: Path) -> None:
    target = _target_result(tmp_path)
    results = Results(schema=SCHEMA, run_id="r1", started_at="2027-01-15T08:00:00+00:00", finished_at=None,
                      host={"cores": 2}, config={}, targets={"event-driven": target})
    dump_results(results, tmp_path)
    loaded = load_results(tmp_path)
    assert loaded == json.loads(json.dumps(results))
    assert schema_problems(loaded) == []
    measured = loaded["targets"]["event-driven"]
    assert measured["summary"]["requests"] == 3  # the 1.0 s sample is warm-up
    assert measured["summary"]["failure_classes"] == {"timeout": 1, "5xx": 1}
    assert measured["integrity"]["time_to_final"]["p50_ms"] == pytest.approx(50.0)
    assert measured["generator"]["bound"] is True  # mean 50% >= 45% limit
    assert measured["resources"]["services"][0]["cpu_seconds"] == pytest.approx(1.0)


def test_schema_problems_name_the_bad_keys(tmp_path: Path) -> None:
    target = dict(_target_result(tmp_path))
    del target["summary"]
    target["surprise"] = 1
    target["duration_s"] = "long"
    problems = schema_problems({"schema": SCHEMA, "run_id": "r", "started_at": "", "finished_at": None,
                                "host": {}, "config": {}, "targets": {"x": target}})
    assert "results.targets.x: missing key 'summary'" in problems
    assert "results.targets.x: unknown key 'surprise'" in problems
    assert any(p.startswith("results.targets.x.duration_s: expected float") for p in problems)


def test_loader_refuses_other_schemas(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"schema": "archbench/results@0"}))
    with pytest.raises(BenchError, match="not supported"):
        load_results(tmp_path)


def test_endpoints_csv_spreads_failure_classes_into_columns(tmp_path: Path) -> None:
    target = _target_result(tmp_path)
    frame = pd.read_csv(__import__("io").StringIO(endpoints_csv(target["endpoints"])))
    row = frame.set_index("name").loc["GET /products"]
    assert row["failures_5xx"] == 1 and row["failures_timeout"] == 0
    assert np.isclose(row["p50_ms"], 7.0)


def test_write_atomic_files_are_readable_by_others(tmp_path: Path) -> None:
    """Reports are shared: write_atomic must not leave mkstemp's 0600 mode behind."""
    import os
    import stat

    from harness.results import write_atomic

    old = os.umask(0o022)
    try:
        target = tmp_path / "index.html"
        write_atomic(target, "<p>ok</p>")
    finally:
        os.umask(old)
    assert target.read_text(encoding="utf-8") == "<p>ok</p>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_v1_results_file_is_upgraded_on_load_not_refused() -> None:
    from harness.results import SCHEMA_V1

    raw = json.loads((FIXTURES / "results-v1" / "results.json").read_text(encoding="utf-8"))
    assert raw["schema"] == SCHEMA_V1  # the golden v1 file stays as v1 wrote it
    upgraded = load_results(FIXTURES / "results-v1")
    assert upgraded["schema"] == SCHEMA
    assert schema_problems(upgraded) == []
    assert {t["profile"]["model"] for t in upgraded["targets"].values()} == {"closed"}


def test_the_golden_v2_capacity_file_loads_and_conforms() -> None:
    results = load_results(FIXTURES / "results-v2")
    assert results["schema"] == SCHEMA and schema_problems(results) == []
    capacity = results["targets"]["monolith"]["capacity"]
    assert capacity["steps"] and capacity["slo"]
    assert results["targets"]["monolith"]["profile"]["model"] == "open"


def test_an_unknown_schema_is_refused_naming_both_readable_ones(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"schema": "archbench/results@9"}))
    with pytest.raises(BenchError, match="results@2.*or.*results@1"):
        load_results(tmp_path)


def test_resources_say_which_memory_measure_they_hold(tmp_path: Path) -> None:
    local = _target_result(tmp_path)
    assert local["resources"]["memory_measure"] == "pss"  # a process tree's PSS, not summed RSS
    assert schema_problems(local, TargetResult) == []
