"""Run reports rendered from the checked-in fixture: sections, warnings, escaping, files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from report_fixture import FIXTURE, copy_fixture, edit_results

from harness.cli import cli
from harness.errors import BenchError
from harness.report import render_run_report, write_run_reports
from harness.results import load_results

XSS = "<script>alert(1)</script>"
SECTIONS = ("warnings", "headline", "throughput", "latency", "distribution", "endpoints", "resources",
            "integrity", "cost", "claims", "config")


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_run_report(load_results(FIXTURE), FIXTURE)


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert match, f"section {name} missing"
    return match.group(1)


def test_every_section_is_present_in_order(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    positions = [html.index(f'<section id="{name}"') for name in SECTIONS]
    assert positions == sorted(positions)
    assert "<title>archbench report – 20261125-180000-fixture</title>" in html


def test_headline_table_has_every_target_and_column(rendered: dict[str, str]) -> None:
    table = section(rendered["index.html"], "headline")
    for name in ("monolith", "microservices", "event-driven"):
        assert f"<strong>{name}</strong>" in table
    for column in ("RPS", "p50 ms", "p95 ms", "p99 ms", "error rate", "CPU budget", "$ / million req",
                   "integrity", "validity"):
        assert column in table
    results = load_results(FIXTURE)
    assert f"{results['targets']['monolith']['summary']['rps']:,.1f}" in table


def test_figures_are_inline_svg_and_nothing_is_fetched(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    # throughput, latency, distribution, 3 x resources, time to final
    assert html.count("<svg") == 7
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    assert "$\\mathdefault" not in html  # tick labels are plain text


def test_distribution_chart_has_nines_axis_and_all_targets(rendered: dict[str, str]) -> None:
    figure = section(rendered["index.html"], "distribution")
    for tick in ("50%", "90%", "99%", "99.9%"):
        assert f">{tick}<" in figure
    for name in ("monolith", "microservices", "event-driven"):
        assert f"{name} (n=" in figure


def test_generator_bound_warning_is_at_the_top(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    warnings = section(html, "warnings")
    assert "GENERATOR-BOUND" in warnings and "event-driven" in warnings
    assert html.index('id="warnings"') < html.index('id="headline"')
    assert "generator-bound" in rendered["summary.md"]


def test_invalid_and_lost_writes_are_errors_in_the_warnings(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def break_run(results: dict[str, Any]) -> None:
        results["targets"]["monolith"]["valid"] = {"ok": False, "reasons": ["only 12 requests measured"]}
        integrity = results["targets"]["microservices"]["integrity"]
        integrity.update(lost=3, ok=False, reasons=["3 acknowledged orders missing"])

    results = edit_results(run_dir, break_run)
    html = render_run_report(results, run_dir)["index.html"]  # type: ignore[arg-type]
    warnings = section(html, "warnings")
    assert '<li class="error"><strong>monolith</strong>: INVALID run: only 12 requests measured' in warnings
    assert "LOST WRITES: 3 acknowledged order(s)" in warnings
    assert "FAILED (3 lost)" in section(html, "headline")
    summary = render_run_report(results, run_dir)["summary.md"]  # type: ignore[arg-type]
    assert "INVALID" in summary and "LOST WRITES" in summary


def test_no_warnings_says_so(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    results = edit_results(run_dir, lambda r: r["targets"]["event-driven"]["generator"].update(bound=False))
    html = render_run_report(results, run_dir)["index.html"]  # type: ignore[arg-type]
    assert "No warnings" in section(html, "warnings")


def test_names_from_results_and_config_are_escaped(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def inject(results: dict[str, Any]) -> None:
        target = results["targets"].pop("monolith")
        target["target"] = XSS
        target["endpoints"][0]["name"] = XSS
        target["services"][0]["name"] = XSS
        target["generator"].update(bound=True, reason=XSS)
        results["targets"][XSS] = target
        results["host"]["cpu_model"] = XSS
        results["config"]["prices"]["source"] = XSS
        results["run_id"] = XSS

    results = edit_results(run_dir, inject)
    reports = render_run_report(results, run_dir)  # type: ignore[arg-type]
    html, markdown = reports["index.html"], reports["summary.md"]
    assert XSS not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "headline")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "endpoints")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "warnings")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "distribution")  # SVG legend
    assert "archbench report – &lt;script&gt;" in html
    assert XSS not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_pipes_in_names_do_not_break_markdown_tables(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def rename(results: dict[str, Any]) -> None:
        results["targets"]["a|b"] = results["targets"].pop("monolith")

    results = edit_results(run_dir, rename)
    markdown = render_run_report(results, run_dir)["summary.md"]  # type: ignore[arg-type]
    assert "| a\\|b |" in markdown


def test_cost_and_claims_are_recomputed_when_absent(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def strip(results: dict[str, Any]) -> None:
        for target in results["targets"].values():
            del target["cost"], target["claims"]

    stripped = edit_results(run_dir, strip)
    html = render_run_report(stripped, run_dir)["index.html"]  # type: ignore[arg-type]
    original = render_run_report(load_results(FIXTURE), FIXTURE)["index.html"]
    assert section(html, "cost") == section(original, "cost")
    assert section(html, "claims") == section(original, "claims")
    assert "$0.04048" in section(html, "cost")


def test_missing_data_file_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    (run_dir / "monolith" / "timeseries.csv").unlink()
    (run_dir / "microservices" / "samples.parquet").unlink()
    html = render_run_report(load_results(run_dir), run_dir)["index.html"]
    warnings = section(html, "warnings")
    assert "missing data file: monolith/timeseries.csv" in warnings
    assert "missing data file: microservices/samples.parquet" in warnings


def test_optional_and_missing_parts_render(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def strip(results: dict[str, Any]) -> None:
        target = results["targets"]["monolith"]
        del target["resources"], target["generator"], target["integrity"], target["profile"]
        results["targets"]["microservices"]["resources"] = {"errors": ["docker stats: timeout"]}
        results["finished_at"] = None

    results = edit_results(run_dir, strip)
    html = render_run_report(results, run_dir)["index.html"]  # type: ignore[arg-type]
    assert "no resource readings" in section(html, "resources")
    assert "the run did not finish" in section(html, "warnings")
    assert "resource sampling errors: docker stats: timeout" in section(html, "warnings")


def test_summary_markdown_has_table_and_verdicts(rendered: dict[str, str]) -> None:
    markdown = rendered["summary.md"]
    assert markdown.startswith("# archbench: run 20261125-180000-fixture")
    assert "| target | RPS | p50 ms | p95 ms | p99 ms |" in markdown
    assert "| monolith |" in markdown and "| event-driven |" in markdown
    assert "**Article's RPS ordering**" in markdown
    assert "## Claims check" in markdown
    assert re.search(r"\| microservices \| Throughput \(req/s\) \| 1,000 – 5,000 \| [\d.]+ \| below \|", markdown)


def test_write_run_reports_writes_both_files(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    written = write_run_reports(run_dir)
    assert sorted(p.name for p in written) == ["index.html", "summary.md"]
    assert (run_dir / "index.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(run_dir.glob(".index.html.*"))  # no temporary file left behind


def test_bench_report_command(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    outcome = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert outcome.exit_code == 0, outcome.output
    assert f"wrote {run_dir / 'index.html'}" in outcome.output
    assert (run_dir / "summary.md").is_file()


def test_bench_report_on_a_missing_run_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="not found"):
        write_run_reports(tmp_path / "nothing")
