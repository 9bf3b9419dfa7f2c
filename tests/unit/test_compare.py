"""bench compare: deltas against the first run and configuration differences."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from report_fixture import FIXTURE, copy_fixture, edit_results

from harness.cli import cli
from harness.errors import BenchError
from harness.report.compare import (
    compare_runs,
    differences,
    render_compare_html,
    render_compare_markdown,
    write_comparison,
)
from harness.results import load_results


def slower(results: dict[str, Any]) -> None:
    """The same run with 10% less throughput, double p99 and another seed size."""
    results["run_id"] = "second"
    summary = results["targets"]["monolith"]["summary"]
    summary["rps"] *= 0.9
    summary["p99_ms"] *= 2
    del results["targets"]["monolith"]["cost"]  # recomputed from the config
    results["config"]["seed"]["users"] = 99
    results["host"]["cores"] = 8


def metric(comparison: dict[str, Any], target: str, key: str) -> dict[str, Any]:
    return next(row for row in comparison["targets"][target] if row["metric"] == key)


def test_deltas_against_the_first_run() -> None:
    base = load_results(FIXTURE)
    other = copy.deepcopy(base)
    slower(other)  # type: ignore[arg-type]
    comparison = compare_runs([base, other])
    assert comparison["runs"] == ["20261125-180000-fixture", "second"]
    rps = metric(comparison, "monolith", "rps")
    assert rps["deltas"][0] == {"abs": 0.0, "pct": 0.0}
    assert rps["deltas"][1]["pct"] == pytest.approx(-10.0)
    assert metric(comparison, "monolith", "p99_ms")["deltas"][1]["pct"] == pytest.approx(100.0)
    assert metric(comparison, "microservices", "rps")["deltas"][1]["abs"] == 0.0
    cost = metric(comparison, "monolith", "monthly_usd")
    assert cost["values"][0] == pytest.approx(cost["values"][1])  # recomputed cost equals the stored one


def test_config_and_host_differences_are_listed() -> None:
    base = load_results(FIXTURE)
    other = copy.deepcopy(base)
    slower(other)  # type: ignore[arg-type]
    comparison = compare_runs([base, other])
    assert comparison["config_diff"] == [{"key": "seed.users", "values": [50, 99]}]
    assert comparison["host_diff"] == [{"key": "cores", "values": [2, 8]}]


def test_differences_flags_absent_keys_and_lists() -> None:
    diffs = differences([{"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [1, 3]}, "d": True}])
    assert diffs == [
        {"key": "a.b", "values": [1, None]},
        {"key": "a.c", "values": [[1, 2], [1, 3]]},
        {"key": "d", "values": [None, True]},
    ]


def test_a_target_missing_from_one_run_has_no_delta() -> None:
    base = load_results(FIXTURE)
    other = copy.deepcopy(base)
    del other["targets"]["event-driven"]
    rps = metric(compare_runs([base, other]), "event-driven", "rps")
    assert rps["values"][1] is None and rps["deltas"][1] == {"abs": None, "pct": None}


def test_same_run_ids_get_distinct_labels() -> None:
    base = load_results(FIXTURE)
    assert compare_runs([base, base])["runs"] == ["20261125-180000-fixture", "20261125-180000-fixture [2]"]


def test_one_run_is_a_user_error() -> None:
    with pytest.raises(BenchError, match="at least two"):
        compare_runs([load_results(FIXTURE)])


def test_renderings_show_deltas_and_escape_names() -> None:
    base = load_results(FIXTURE)
    other = copy.deepcopy(base)
    slower(other)  # type: ignore[arg-type]
    other["config"]["claims"]["source"] = "<script>alert(1)</script>"
    comparison = compare_runs([base, other])
    html = render_compare_html(comparison)
    markdown = render_compare_markdown(comparison)
    assert "<script>" not in html and "<script>" not in markdown
    assert "&lt;script&gt;" in html and "&lt;script&gt;" in markdown
    assert "-10.0%" in html and "-10.0%" in markdown
    assert "<code>seed.users</code>" in html
    assert "| seed.users | 50 | 99 |" in markdown


def test_bench_compare_writes_html_and_markdown(tmp_path: Path) -> None:
    first = copy_fixture(tmp_path / "a")
    second = copy_fixture(tmp_path / "b")
    edit_results(second, slower)
    out = tmp_path / "out"
    outcome = CliRunner().invoke(cli, ["compare", str(first), str(second), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert (out / "compare.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "seed.users" in (out / "compare.md").read_text(encoding="utf-8")


def test_default_output_is_next_to_the_first_run(tmp_path: Path) -> None:
    first = copy_fixture(tmp_path)
    written = write_comparison([first, first])
    assert {p.parent for p in written} == {tmp_path / "compare"}


def _empty(results: dict[str, Any]) -> None:
    results["run_id"] = "empty"
    results["targets"] = {}
    results["finished_at"] = None


def test_an_empty_run_is_warned_about_and_nothing_is_comparable() -> None:
    base = load_results(FIXTURE)
    empty = copy.deepcopy(base)
    _empty(empty)  # type: ignore[arg-type]
    comparison = compare_runs([base, empty])
    assert comparison["comparable"] == []
    assert "run empty has no target results (it was interrupted or no target finished)" in comparison["warnings"]
    assert "nothing is comparable: no target has measurements in two of the runs" in comparison["warnings"]
    assert "target monolith was measured only in 20261125-180000-fixture: nothing to compare" in comparison["warnings"]
    assert "> **Warning:** run empty has no target results" in render_compare_markdown(comparison)
    assert "run empty has no target results" in render_compare_html(comparison)


def test_bench_compare_with_an_empty_run_warns_and_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    first = copy_fixture(tmp_path / "a")
    second = copy_fixture(tmp_path / "b")
    edit_results(second, _empty)
    done = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "compare", str(first),
                           str(second), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "warning: run empty has no target results" in done.stderr
    assert "error: nothing to compare" in done.stderr
    assert (tmp_path / "out" / "compare.md").is_file()  # the files still say what is missing


def test_bench_compare_prints_a_table_in_the_terminal(tmp_path: Path) -> None:
    first = copy_fixture(tmp_path / "a")
    second = copy_fixture(tmp_path / "b")
    edit_results(second, slower)
    outcome = CliRunner().invoke(cli, ["compare", str(first), str(second), "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 0, outcome.output
    assert "monolith" in outcome.output and "throughput (req/s)" in outcome.output
    assert "-10.0%" in outcome.output and "second" in outcome.output
    assert outcome.output.index("throughput (req/s)") < outcome.output.index("wrote ")


def test_compare_shows_capacity_and_the_reserved_cost_of_capacity_runs(tmp_path: Path) -> None:
    from report_fixture import copy_capacity_fixture, edit_results

    from harness.report.compare import compare_runs
    from harness.results import load_results

    first = copy_capacity_fixture(tmp_path / "a")
    second = copy_capacity_fixture(tmp_path / "b")
    edit_results(second, lambda r: r["targets"]["monolith"]["capacity"].update(capacity_rps=300.0))
    compared = compare_runs([load_results(first), load_results(second)])
    rows = {row["metric"]: row for row in compared["targets"]["monolith"]}
    assert rows["capacity_rps"]["values"] == [400.0, 300.0]
    assert rows["capacity_rps"]["deltas"][1]["pct"] == pytest.approx(-25.0)
    assert rows["per_million_usd"]["values"][1] > rows["per_million_usd"]["values"][0]  # priced at capacity
    plain = compare_runs([load_results(FIXTURE), load_results(FIXTURE)])
    assert "capacity_rps" not in {row["metric"] for row in plain["targets"]["monolith"]}
