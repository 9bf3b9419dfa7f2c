"""Run reports rendered from the checked-in fixture: sections, warnings, escaping, files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from report_fixture import FIXTURE, copy_fixture, edit_results, interrupt, write_gate

from harness.cli import cli
from harness.errors import BenchError
from harness.report import render_run_report, write_run_reports
from harness.report.firstscreen import (
    format_cpus,
    format_profile,
    format_time,
    planned_users,
    users_over_time,
)
from harness.report.plots import distribution_svg, log_ticks
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


# -- zero or partial results (issue 10, item 2) ---------------------------------------------


@pytest.mark.parametrize("finished", [True, False])
def test_a_run_with_zero_targets_renders_and_says_why(tmp_path: Path, finished: bool) -> None:
    run_dir = copy_fixture(tmp_path)

    def empty(results: dict[str, Any]) -> None:
        results["targets"] = {}
        results["run_id"] = XSS
        if not finished:
            results["finished_at"] = None

    results = edit_results(run_dir, empty)
    reports = render_run_report(results, run_dir)  # type: ignore[arg-type]
    html, markdown = reports["index.html"], reports["summary.md"]
    assert XSS not in html and XSS not in markdown
    assert "no target finished" in section(html, "answer")
    assert "see the run&#39;s log" in section(html, "answer")
    for name in ("headline", "endpoints", "resources", "integrity", "cost", "claims"):
        assert "not measured" in section(html, name), name
    assert "no target finished" in section(html, "warnings")
    assert "no target finished" in markdown and "see the run's log" in markdown
    assert ("interrupted or killed" in html) is (not finished)


def test_a_target_without_cost_claims_resources_or_timeseries_renders(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    (run_dir / "monolith" / "timeseries.csv").unlink()

    def strip(results: dict[str, Any]) -> None:
        target = results["targets"]["monolith"]
        for key in ("cost", "claims", "resources", "services", "summary", "endpoints"):
            del target[key]
        target["integrity"] = {}

    results = edit_results(run_dir, strip)
    reports = render_run_report(results, run_dir)  # type: ignore[arg-type]
    html = reports["index.html"]
    assert "not measured: cost needs the target" in section(html, "cost")
    assert "not measured: no claim configured" in section(html, "claims")
    assert "not measured: no resource readings" in section(html, "resources")
    assert "not measured: no integrity check recorded" in section(html, "integrity")
    assert "not measured: no endpoint statistics" in section(html, "endpoints")
    assert "not measured: no resource readings for this target" in section(html, "answer")
    assert "missing data file: monolith/timeseries.csv" in section(html, "warnings")
    assert "| monolith | not measured: cost needs" in reports["summary.md"]


def test_an_interrupted_target_renders_escaped_and_says_what_is_missing(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def cut(results: dict[str, Any]) -> None:
        interrupt(results, "event-driven")
        results["targets"][XSS] = results["targets"].pop("event-driven")

    results = edit_results(run_dir, cut)
    reports = render_run_report(results, run_dir)  # type: ignore[arg-type]
    html = reports["index.html"]
    assert XSS not in html and "<script" not in html.lower() and XSS not in reports["summary.md"]
    assert "the run did not finish" in section(html, "warnings")
    assert "interrupted (Ctrl-C): partial measurement" in section(html, "warnings")
    ranking = section(html, "answer")
    assert re.search(r"&lt;script&gt;alert\(1\)&lt;/script&gt;</strong> <span class=\"badge bad\">interrupted</span>",
                     ranking)
    integrity = section(html, "integrity")
    assert "not measured</span> not measured: interrupted: integrity was not checked" in integrity
    assert "not measured: no resource readings (interrupted (Ctrl-C): partial measurement)" in section(html, "resources")
    assert "$" in section(html, "cost")  # cost recomputed from services and throughput


def test_a_truncated_samples_file_is_reported_not_raised(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    (run_dir / "monolith" / "samples.parquet").write_bytes(b"PAR1 cut short by SIGKILL")
    html = render_run_report(load_results(run_dir), run_dir)["index.html"]
    assert "missing data file: monolith/samples.parquet (unreadable)" in section(html, "warnings")


# -- the first screen (issue 10, "The report's first screen") ------------------------------


def test_first_screen_comes_first_with_the_load_context(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    assert html.index('<section id="answer"') < html.index('<section id="warnings"')
    answer = section(html, "answer")
    context = re.search(r'<p class="context">(.*?)</p>', answer, re.DOTALL)
    assert context
    line = context.group(1)
    for part in ("profile fixture", "closed loop, 20 users, no think time", "20 users (spawn 10/s) for 23 s",
                 "20 s measured after 3 s warm-up", "task mix: view product 42%, list products 31%, "
                 "place order 16%, read order 10%, login 1%"):
        assert part in line, part


def test_first_screen_names_the_bottleneck_of_each_target(rendered: dict[str, str]) -> None:
    answer = section(rendered["index.html"], "answer")
    results = load_results(FIXTURE)
    rps = results["targets"]["monolith"]["summary"]["rps"]
    assert re.search(r"target core 1 \d+% busy \(app 8\d%, postgres 2\d%\): throughput is this core&#39;s capacity",
                     answer)
    assert f"latency ≈ users / RPS = 20 / {rps:,.0f} = {20000 / rps:,.0f} ms" in answer
    assert "generator-limited: mean load-generator CPU 93.5%" in answer
    assert "- **event-driven**: generator-limited" in rendered["summary.md"]


def test_first_screen_ranks_targets_by_rps_with_percent_of_best(rendered: dict[str, str]) -> None:
    answer = section(rendered["index.html"], "answer")
    ranking = re.search(r'<table id="ranking".*?</table>', answer, re.DOTALL)
    assert ranking
    rows = re.findall(r"<td><strong>([^<]+)</strong>", ranking.group(0))
    assert rows == ["event-driven", "monolith", "microservices"]
    targets = load_results(FIXTURE)["targets"]
    best = targets["event-driven"]["summary"]["rps"]
    share = 100 * targets["monolith"]["summary"]["rps"] / best
    assert f'style="width: {share:.1f}%"' in ranking.group(0)
    assert f">{share:.0f}%<" in ranking.group(0) and ">100%<" in ranking.group(0)
    assert "no confidence interval" in answer


def test_first_screen_shows_gate_results_when_gate_json_exists(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    assert 'id="gate"' not in render_run_report(load_results(run_dir), run_dir)["index.html"]
    gate = {"status": "FAIL", "exit_code": 1, "checks": [
        {"name": "p95 < 200ms", "target": "monolith", "metric": "p95", "op": "<", "limit": "200 ms",
         "value": "102.6 ms", "verdict": "pass"},
        {"name": "error_rate < 0.1%", "target": "microservices", "endpoint": "POST /orders",
         "value": "0.54%", "verdict": "fail", "detail": XSS},
        {"verdict": "error"},  # keys missing: still a row
    ]}
    write_gate(run_dir, gate)
    html = render_run_report(load_results(run_dir), run_dir)["index.html"]
    answer = section(html, "answer")
    assert re.search(r'Gate: <span class="badge bad">FAIL</span> <span class="muted">\(exit code 1\)</span>', answer)
    table = re.search(r'<table id="gate-table">(.*?)</table>', answer, re.DOTALL)
    assert table
    assert table.group(1).count("<tr>") == 4  # header + 3 checks
    assert "microservices POST /orders" in table.group(1) and "&lt; 200 ms" in table.group(1)
    assert "&lt;script&gt;" in table.group(1) and XSS not in html


def test_first_screen_default_gate_fixture_renders(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    write_gate(run_dir)
    answer = section(render_run_report(load_results(run_dir), run_dir)["index.html"], "answer")
    assert "p99 regression" in answer and ">error<" in answer


def test_event_driven_order_latency_is_ack_plus_time_to_final(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)

    def resolve(results: dict[str, Any]) -> None:
        results["targets"]["event-driven"]["integrity"]["time_to_final"]["resolution_ms"] = 5.7
        results["targets"]["event-driven"]["integrity"]["acknowledged"] = 4002
        results["targets"]["event-driven"]["integrity"]["time_to_final"]["count"] = 305

    results = edit_results(run_dir, resolve)
    answer = section(render_run_report(results, run_dir)["index.html"], "answer")  # type: ignore[arg-type]
    table = re.search(r'<table id="order-latency">(.*?)</table>', answer, re.DOTALL)
    assert table
    target = results["targets"]["event-driven"]
    ack = next(e for e in target["endpoints"] if e["name"] == "POST /orders")
    final = target["integrity"]["time_to_final"]
    assert f"<strong>{ack['p95_ms'] + final['p95_ms']:,.1f}</strong>" in table.group(1)
    assert "305 tracked of 4,002 acknowledged orders" in table.group(1)
    assert "poll resolution ±5.7 ms" in table.group(1)
    sync = next(e for e in results["targets"]["monolith"]["endpoints"] if e["name"] == "POST /orders")
    assert f"POST /orders (201, synchronous)</td>\n    <td class=\"num\">{sync['p50_ms']:,.1f}</td>" in table.group(1)
    for name in ("monolith", "microservices", "event-driven"):
        assert f"<strong>{name}</strong>" in table.group(1)


def test_order_latency_without_resolution_says_so(rendered: dict[str, str]) -> None:
    assert "poll resolution not recorded" in section(rendered["index.html"], "answer")


def test_users_over_time_is_drawn_under_the_throughput(rendered: dict[str, str]) -> None:
    throughput = section(rendered["index.html"], "throughput")
    assert throughput.count("<svg") == 1  # one figure, two panels
    assert ">users<" in throughput and ">requests / s<" in throughput


def test_users_fall_back_to_the_profile_plan() -> None:
    target: Any = {"profile": {"stages": [{"duration_s": 3, "users": 20, "spawn_rate": 10},
                                          {"duration_s": 2, "users": 5, "spawn_rate": 100}]}}
    assert planned_users(target["profile"]["stages"], 7) == [10, 20, 20, 5, 5, 0, 0]
    assert users_over_time(target, [0, 1, 2, 3, 4], None).tolist() == [10, 20, 20, 5, 5]
    assert users_over_time(target, [0, 1], [0, 0]).tolist() == [10, 20]  # an all-zero column is no record
    assert users_over_time(target, [0, 1], [3, 4]).tolist() == [3, 4]


# -- smaller (issue 10, item 7) -----------------------------------------------------------


def test_log_ticks_cover_the_data_range() -> None:
    assert log_ticks(30, 900) == [20, 50, 100, 200, 500, 1000]
    assert log_ticks(4.2, 11) == [2, 5, 10, 20]
    assert log_ticks(50, 50) == [50, 100]
    assert log_ticks(0.3, 1.5) == [0.2, 0.5, 1, 2]


def test_distribution_axis_has_a_tick_below_its_lowest_curve() -> None:
    rng = np.random.default_rng(7)
    svg = distribution_svg({"t": rng.lognormal(np.log(35.0), 0.5, 20_000)})
    labels = re.findall(r"<!-- ([\d,.]+) -->", svg) or re.findall(r">([\d,.]+)</text>", svg)
    assert ">20<" in svg or "20" in labels, labels


def test_summary_markdown_is_not_html_escaped(rendered: dict[str, str]) -> None:
    markdown = rendered["summary.md"]
    assert "&lt;" not in markdown and "&gt;" not in markdown and "&amp;" not in markdown
    assert "(monolith < microservices < event-driven)" in markdown
    assert "93.5% >= 90%" in markdown


def test_markdown_keeps_newlines_and_pipes_in_names_from_breaking_tables(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    results = edit_results(run_dir, lambda r: r["targets"].__setitem__("a|b\nc & d", r["targets"].pop("monolith")))
    markdown = render_run_report(results, run_dir)["summary.md"]  # type: ignore[arg-type]
    assert "| a\\|b c & d |" in markdown


def test_timestamps_profile_and_cpu_sets_read_for_people(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    assert "started 2026-11-25 18:00:00 UTC" in html
    assert format_time("2026-11-25T18:00:00.123456+00:00") == "2026-11-25 18:00:00 UTC"
    assert format_time(None) == "–"
    config = section(html, "config")
    assert "{&#34;name&#34;" not in config and '{"name"' not in config
    assert "fixture: closed loop, no think time; 20 users (spawn 10/s) for 23 s; warm-up 3 s" in config
    assert format_profile({"name": "open", "rate": 500, "stages": [], "warmup_s": 60}).startswith(
        "open: open loop at 500 req/s")
    assert (format_cpus("1"), format_cpus("0-1"), format_cpus("0,2"), format_cpus("")) == (
        "core 1", "cores 0-1", "cores 0,2", "unpinned")
    assert "measured on core 1" in section(html, "claims") and "CPU set" not in html
    assert "target core 1 / generator core 0" in section(html, "headline")


def test_gate_json_written_by_bench_gate_renders(tmp_path: Path) -> None:
    from harness.gate.evaluate import Check
    from harness.gate.formats import format_gate_json

    fields = set(Check.__dataclass_fields__)
    values = {"name": "p95 < 200ms", "scope": "monolith", "value": "250ms", "limit": "< 200ms", "verdict": "fail",
              "detail": "p95 is 250ms, needs < 200ms", "kind": "threshold", "target": "monolith", "endpoint": None,
              "metric": "p95", "op": "<", "bound": "200ms"}
    check = Check(**{k: v for k, v in values.items() if k in fields})
    run_dir = copy_fixture(tmp_path)
    (run_dir / "gate.json").write_text(format_gate_json([check], baseline={"name": "smoke", "run_id": "r1"}),
                                       encoding="utf-8")
    answer = section(render_run_report(load_results(run_dir), run_dir)["index.html"], "answer")
    assert 'Gate: <span class="badge bad">FAIL</span>' in answer
    assert "regression against baseline smoke (run r1)" in answer
    assert "p95 is 250ms, needs &lt; 200ms" in answer


def test_bench_report_on_a_run_killed_before_any_target_finished(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    edit_results(run_dir, lambda r: r.update(targets={}, finished_at=None))
    outcome = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert outcome.exit_code == 0, outcome.output
    assert "no target finished" in (run_dir / "index.html").read_text(encoding="utf-8")
    assert "no target finished" in (run_dir / "summary.md").read_text(encoding="utf-8")


def test_an_unchecked_integrity_reads_not_checked_not_failed(tmp_path: Path) -> None:
    # before: checked false (interrupted, or no order acknowledged) read "integrity check failed"
    from harness.integrity import integrity_unchecked

    run_dir = copy_fixture(tmp_path)
    results = edit_results(run_dir, lambda r: r["targets"]["monolith"].__setitem__(
        "integrity", integrity_unchecked(1000, "interrupted (SIGTERM) before the orders were reconciled")))
    reports = render_run_report(results, run_dir)  # type: ignore[arg-type]
    html, markdown = reports["index.html"], reports["summary.md"]
    why = "not checked: interrupted (SIGTERM) before the orders were reconciled"
    assert "integrity check failed" not in html and "integrity check failed" not in markdown
    assert f"integrity {why}" in section(html, "warnings")
    assert f'<span class="badge neutral">{why}</span>' in section(html, "headline")
    assert '<span class="badge neutral">not checked</span> interrupted (SIGTERM)' in section(html, "integrity")
    assert f"| {why} |" in markdown and "FAILED" not in markdown


def test_stages_of_either_results_shape_use_the_runs_own_plan() -> None:
    # before: firstscreen walked stages itself and read only "duration_s" (a Stage-shaped
    # record planned 0 users) and parsed CPU lists itself ("3-1" raised an IndexError)
    from harness.report.firstscreen import format_stages, stage_of
    from scenarios.plan import Stage

    old = {"duration_s": 3, "users": 20, "spawn_rate": 10}
    new = {"duration": 3, "users": 20, "spawn_rate": 10, "rate": 0}
    assert stage_of(old) == stage_of(new) == Stage(duration=3.0, users=20, spawn_rate=10.0)
    assert planned_users([new], 4) == planned_users([old], 4) == [10, 20, 20, 0]
    assert format_stages({"stages": [{"duration": 60, "rate": 500, "users": 0, "spawn_rate": 1}]}) == \
        "500 req/s for 60 s"
    assert format_cpus("3-1") == "cores 3-1" and format_cpus(" 1 , 3") == "cores 1,3"


# -- capacity (issue 12 items 2-3): bench capacity runs ----------------------------------------


@pytest.fixture(scope="module")
def capacity_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    from report_fixture import copy_capacity_fixture

    run_dir = copy_capacity_fixture(tmp_path_factory.mktemp("capacity"))
    return run_dir, render_run_report(load_results(run_dir), run_dir)


def test_capacity_section_comes_first_after_the_summary_with_its_figures(
        capacity_run: tuple[Path, dict[str, str]]) -> None:
    html = capacity_run[1]["index.html"]
    assert html.index('<section id="answer"') < html.index('<section id="capacity"') < html.index(
        '<section id="headline"')
    assert '<a href="#capacity">Capacity</a>' in html
    assert html.count("<svg") == 7 + 3  # the run's figures, plus hockey stick, achieved vs offered, bars
    capacity = section(html, "capacity")
    assert "The SLO is <strong>p99 &lt; 200ms and error_rate &lt; 1%</strong>" in capacity
    assert "p99 response time, measured from the intended start" in capacity
    assert "coordinated omission" in capacity and "Service time is measured from the actual send" in capacity
    for label in ("monolith p99 response time", "monolith p99 service time", "SLO p99 &lt; 200ms",
                  "achieved = offered", "at least 300/s (generator-limited)", "400/s (knee between 400 and 440/s)"):
        assert label in capacity, label


def test_every_capacity_step_is_a_table_row(capacity_run: tuple[Path, dict[str, str]]) -> None:
    steps = re.search(r'<table id="capacity-steps">(.*?)</table>', capacity_run[1]["index.html"], re.DOTALL)
    assert steps
    rows = re.findall(r"<tr[^>]*>\s*<td>([a-z-]+)", steps.group(1))
    assert rows == ["monolith"] * 7 + ["microservices"] * 5 + ["event-driven"] * 4
    assert steps.group(1).count("at capacity") == 3
    assert "generator-limited" in steps.group(1)
    for header in ("offered /s", "achieved /s", "p50 ms", "p99 ms", "service p99 ms", "errors", "dropped",
                   "verdict", "what limited it"):
        assert f">{header}<" in capacity_run[1]["index.html"]


def test_first_screen_ranks_by_capacity_with_cost_at_capacity(capacity_run: tuple[Path, dict[str, str]]) -> None:
    run_dir, rendered = capacity_run
    answer = section(rendered["index.html"], "answer")
    assert "Ranked by capacity at the SLO" in answer and "Ranked by throughput" not in answer
    ranking = re.search(r'<table id="ranking".*?</table>', answer, re.DOTALL)
    assert ranking
    assert re.findall(r"<td><strong>([^<]+)</strong>", ranking.group(0)) == ["monolith", "event-driven",
                                                                             "microservices"]
    assert 'style="width: 75.0%"' in ranking.group(0) and "lower bound" in ranking.group(0)
    monolith = load_results(run_dir)["targets"]["monolith"]
    from harness.config import Config
    from harness.pricing.cost import cost_for_target

    expected = cost_for_target(monolith, Config())["reserved"]["per_million_usd"]
    assert f"${expected:,.4f}" in ranking.group(0)  # at 400 req/s, one core's budget


def test_summary_markdown_has_the_capacity_table(capacity_run: tuple[Path, dict[str, str]]) -> None:
    markdown = capacity_run[1]["summary.md"]
    assert "## Capacity at the SLO" in markdown
    assert "| 1 | monolith | 400/s (knee between 400 and 440/s) | 100% |" in markdown
    assert "| 2 | event-driven | at least 300/s (generator-limited) | 75% |" in markdown
    assert "| monolith | 3 | 400.0 | 400.0 |" in markdown and "holds (at capacity)" in markdown
    assert "**Article's RPS ordering** (monolith < microservices < event-driven): does NOT hold; " \
           "measured (capacity at the SLO) microservices 150.0 < event-driven 300.0 < monolith 400.0" in markdown


def test_below_the_lowest_rate_tried_is_labelled_and_ranked_last(tmp_path: Path) -> None:
    from report_fixture import copy_capacity_fixture

    run_dir = copy_capacity_fixture(tmp_path)

    def broke(results: dict[str, Any]) -> None:
        results["targets"]["monolith"]["capacity"].update(kind="below_lowest", capacity_rps=None, low_rps=None,
                                                          high_rps=100.0)

    results = edit_results(run_dir, broke)
    rendered = render_run_report(results, run_dir)  # type: ignore[arg-type]
    ranking = re.search(r'<table id="ranking".*?</table>', rendered["index.html"], re.DOTALL)
    assert ranking
    assert re.findall(r"<td><strong>([^<]+)</strong>", ranking.group(0))[-1] == "monolith"
    assert "below the lowest rate tried (100/s)" in ranking.group(0) and "upper bound" in ranking.group(0)
    assert "| 3 | monolith | below the lowest rate tried (100/s) | – |" in rendered["summary.md"]


def test_closed_model_latency_says_it_is_from_the_send(rendered: dict[str, str]) -> None:
    html = rendered["index.html"]
    assert 'id="capacity"' not in html and "Ranked by throughput" in html
    note = "Closed-model load: latency is measured from the actual send"
    assert note in section(html, "headline") and note in section(html, "latency")
    assert "coordinated omission" not in html


def test_the_golden_capacity_results_file_renders() -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "results-v2"
    rendered = render_run_report(load_results(fixture), fixture)
    capacity = section(rendered["index.html"], "capacity")
    assert "at least 400/s (generator-limited)" in capacity
    assert "capacity search, open model (constant arrivals) · steps of 8 s after 3 s warm-up · offered rates " \
           "200–800 req/s" in rendered["index.html"]
    assert "closed loop" not in section(rendered["index.html"], "answer")
    cost = section(rendered["index.html"], "cost")
    assert "(cpuset core 1)" in cost  # app 1.0 + postgres 1.0 declared, one core reserved
    assert "## Capacity at the SLO" in rendered["summary.md"]


def test_capacity_strings_from_results_are_escaped(tmp_path: Path) -> None:
    from report_fixture import copy_capacity_fixture

    run_dir = copy_capacity_fixture(tmp_path)

    def inject(results: dict[str, Any]) -> None:
        capacity = results["targets"]["monolith"]["capacity"]
        capacity["limited_by"] = XSS
        capacity["reason"] = XSS
        capacity["steps"][0]["limited_by"] = XSS

    results = edit_results(run_dir, inject)
    rendered = render_run_report(results, run_dir)  # type: ignore[arg-type]
    assert XSS not in rendered["index.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(rendered["index.html"], "capacity")
    assert "<script>" not in rendered["summary.md"]


def test_a_cached_target_shows_its_hit_ratio_in_the_headline() -> None:
    from harness.report.model import cache_text

    assert cache_text({"kind": "redis", "hits": 13136, "misses": 6242, "hit_ratio": 0.678}) == \
        "redis cache: 68% hits (13,136 of 19,378 reads)"
    assert cache_text(None) == ""
