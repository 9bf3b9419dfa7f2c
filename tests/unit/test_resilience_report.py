"""The report's Resilience section: shaded faults, the table per target x fault, the claims row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report_fixture import copy_fixture, edit_results

from harness.report import render_run_report
from harness.report.resilience import claims_rows, fault_rows
from harness.results import load_results


def fault(label: str, instance: str, *, down: bool, lost: int | None = 0) -> dict[str, Any]:
    return {
        "event": {"action": "kill", "instance": instance, "label": label, "planned_s": 10.0,
                  "at_s": 1.0e9, "offset_s": 10.0, "end_s": 1.0e9 + 2, "duration_s": None,
                  "restarts": [{"down_s": 1.0e9, "healthy_s": 1.0e9 + 2, "error": ""}], "error": ""},
        "window_s": [10.0, 12.0], "impact_s": [10.0, 14.0], "requests": 200, "failures": 150,
        "availability": 0.25, "failure_classes": {"connection": 150}, "endpoints": [],
        "stayed_up": [], "went_down": [], "everything_down": down, "time_to_first_failure_s": 0.01,
        "time_to_recover_s": 4.0, "error_budget_consumed": 1.5,
        "per_second": {"t_s": [], "requests": [], "availability": [], "p99_ms": []},
        "orders": {"acknowledged": 3, "lost": lost, "stuck": 0, "stuck_ids": [], "duplicated": 0,
                   "indeterminate": 2, "failed": 0},
        "summary": "<b>every</b> endpoint failed" if down else "GET /products stayed up",
    }


def add_faults(results: dict[str, Any]) -> None:
    names = list(results["targets"])
    results["targets"][names[0]]["faults"] = {
        "objective": 0.999, "baseline_s": [5.0, 10.0], "band": {"error_rate": 0.02, "p99_ms": 100.0},
        "faults": [fault("kill postgres", "postgres", down=True)], "indeterminate": 2,
        "created_unacknowledged": 1, "verdict": "single point of failure",
        "evidence": ["kill postgres: every endpoint down (availability 25%)"]}
    results["targets"][names[1]]["faults"] = {
        "objective": 0.999, "baseline_s": [5.0, 10.0], "band": {"error_rate": 0.02, "p99_ms": 100.0},
        "faults": [fault("kill orders", "orders", down=False, lost=None)], "indeterminate": 2,
        "created_unacknowledged": None, "verdict": "fault tolerant", "evidence": ["kill orders: ..."]}


def test_the_resilience_section_shows_every_fault_and_a_verdict_per_architecture(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    edit_results(run_dir, add_faults)
    html = render_run_report(load_results(run_dir), run_dir)["index.html"]
    section = html[html.index('<section id="resilience">'):]
    section = section[:section.index("</section>")]
    assert 'href="#resilience"' in html
    assert "kill postgres" in section and "kill orders" in section and "<svg" in section
    assert "single point of failure" in section and "fault tolerant" in section
    assert "&lt;b&gt;every&lt;/b&gt;" in section  # user-visible strings are escaped
    assert "not checked" in section  # lost unknown is never shown as 0


def test_rows_and_claims_from_the_faults_section(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    targets = load_results(run_dir)["targets"]
    assert fault_rows(targets) == [] and claims_rows(targets) == []
    edit_results(run_dir, add_faults)
    targets = load_results(run_dir)["targets"]
    rows = fault_rows(targets)
    assert [(r["fault"], r["availability"], r["recovery"], r["lost"]) for r in rows] == [
        ("kill postgres", "25.0%", "4.0s", "0"), ("kill orders", "25.0%", "4.0s", "not checked")]
    claims = claims_rows(targets)
    assert [(c["verdict"], c["contained"]) for c in claims] == [
        ("single point of failure", "0 of 1 faults left some endpoint up"),
        ("fault tolerant", "1 of 1 faults left some endpoint up")]


def test_a_run_without_faults_has_no_resilience_section(tmp_path: Path) -> None:
    run_dir = copy_fixture(tmp_path)
    html = render_run_report(load_results(run_dir), run_dir)["index.html"]
    assert 'id="resilience"' not in html
