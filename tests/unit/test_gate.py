"""Gate evaluation (thresholds, scoping, boundaries, exit codes) and its renderers."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from harness.errors import BenchError
from harness.gate.evaluate import (
    Check,
    check_regression_limit,
    evaluate_thresholds,
    gate_exit_code,
    gate_outcome,
)
from harness.gate.formats import (
    format_gate_json,
    format_gate_markdown,
    format_gate_table,
    format_junit,
    gate_document,
)
from harness.gate.thresholds import parse_thresholds
from harness.results import Results


def stats(name: str, requests: int = 1000, failures: int = 0, p95: float | None = 150.0) -> dict[str, Any]:
    empty = requests == 0
    return {
        "name": name, "requests": requests, "failures": failures,
        "error_rate": failures / requests if requests else 0.0, "rps": requests / 20.0,
        "mean_ms": None if empty else 40.0, "p50_ms": None if empty else 30.0,
        "p90_ms": None if empty else 100.0, "p95_ms": None if empty else p95,
        "p99_ms": None if empty else 300.0, "p99_9_ms": None if empty else 900.0,
        "max_ms": None if empty else 1500.0, "failure_classes": {},
    }


def target(name: str, *, requests: int = 1000, p95: float = 150.0, lost: int = 0,
           acknowledged: int = 100) -> dict[str, Any]:
    return {
        "target": name, "backend": "local", "url": "http://127.0.0.1:1",
        "profile": {"name": "smoke", "warmup_s": 2.0}, "started_at": "2026-11-25T18:00:00+00:00",
        "duration_s": 20.0,
        "summary": stats("total", requests=requests, p95=p95),
        "endpoints": [
            stats("GET /products/{id}", requests=requests // 2, p95=80.0),
            stats("POST /orders", requests=requests // 2, failures=5, p95=300.0),
            stats("POST /login", requests=0),
        ],
        "integrity": {"acknowledged": acknowledged, "found": acknowledged - lost, "lost": lost,
                      "final": {}, "not_final": 0, "time_to_final": None, "stats": {}, "ok": lost == 0,
                      "reasons": []},
        "samples": f"{name}/samples.parquet", "timeseries": f"{name}/timeseries.csv",
        "valid": {"ok": True, "reasons": []},
    }


def results(**targets: dict[str, Any]) -> Results:
    run: dict[str, Any] = {
        "schema": "archbench/results@1", "run_id": "r1", "started_at": "2026-11-25T18:00:00+00:00",
        "finished_at": None, "host": {"cpu_model": "test"}, "config": {},
        "targets": targets or {"monolith": target("monolith"), "microservices": target("microservices")},
    }
    return run  # type: ignore[return-value]


def evaluate(run: Results, *expressions: str, min_requests: int = 100) -> list[Check]:
    return evaluate_thresholds(run, parse_thresholds(expressions), min_requests=min_requests)


def test_unscoped_threshold_checks_every_target_in_the_run() -> None:
    checks = evaluate(results(), "p95 < 200ms")
    assert [(c.scope, c.verdict, c.value) for c in checks] == [
        ("monolith", "pass", "150ms"), ("microservices", "pass", "150ms"),
    ]


def test_target_scope_checks_only_that_target() -> None:
    run = results(monolith=target("monolith", p95=250.0), microservices=target("microservices"))
    checks = evaluate(run, "microservices: p95 < 200ms", "monolith: p95 < 200ms")
    assert [(c.scope, c.verdict) for c in checks] == [("microservices", "pass"), ("monolith", "fail")]
    assert checks[1].detail == "p95 is 250ms, needs < 200ms"


def test_endpoint_scope_reads_the_endpoint_row() -> None:
    checks = evaluate(
        results(), "monolith GET /products/{id}: p95 < 100ms", "* POST /orders: p95 < 100ms",
        "monolith POST /orders: failures == 5",
    )
    assert [(c.scope, c.verdict, c.value) for c in checks] == [
        ("monolith GET /products/{id}", "pass", "80ms"),
        ("monolith POST /orders", "fail", "300ms"),
        ("microservices POST /orders", "fail", "300ms"),
        ("monolith POST /orders", "pass", "5"),
    ]


@pytest.mark.parametrize(
    ("expression", "verdict"),
    [
        ("p95 < 150ms", "fail"), ("p95 <= 150ms", "pass"), ("p95 < 0.15s", "fail"),
        ("p95 < 150.001ms", "pass"), ("p95 > 150ms", "fail"), ("p95 >= 150ms", "pass"),
        ("rps > 50", "fail"), ("rps >= 50", "pass"),  # 1000 requests / 20 s = 50/s
        ("requests == 1000", "pass"), ("requests > 1000", "fail"),
        ("lost == 0", "pass"),
    ],
)
def test_exact_boundaries(expression: str, verdict: str) -> None:
    run = results(monolith=target("monolith"))
    assert [c.verdict for c in evaluate(run, expression)] == [verdict]


def test_error_rate_boundary() -> None:
    run = results(monolith=target("monolith"))
    run["targets"]["monolith"]["summary"].update(failures=10, error_rate=10 / 1000)
    assert [c.verdict for c in evaluate(run, "error_rate < 1%", "error_rate <= 1%")] == ["fail", "pass"]


def test_lost_orders_fail() -> None:
    checks = evaluate(results(monolith=target("monolith", lost=2)), "lost == 0")
    assert [(c.verdict, c.value) for c in checks] == [("fail", "2")]


def test_unknown_endpoint_could_not_be_evaluated_and_names_it() -> None:
    (check,) = evaluate(results(monolith=target("monolith")), "monolith GET /nope: p95 < 1s")
    assert check.verdict == "error"
    assert "unknown endpoint 'GET /nope' for monolith" in check.detail
    assert "GET /products/{id}" in check.detail  # the valid choices


def test_target_missing_from_the_run_could_not_be_evaluated() -> None:
    (check,) = evaluate(results(monolith=target("monolith")), "event-driven: p95 < 1s")
    assert check.verdict == "error"
    assert "target 'event-driven' is not in this run (targets run: monolith)" in check.detail


def test_metric_without_samples_could_not_be_evaluated() -> None:
    checks = evaluate(results(monolith=target("monolith")), "monolith POST /login: p95 < 1s",
                      "monolith POST /login: error_rate < 1%", "monolith POST /login: rps > 0")
    assert [c.verdict for c in checks] == ["error", "error", "error"]
    assert all("no samples" in c.detail for c in checks)


def test_run_below_min_requests_could_not_be_evaluated_never_passes() -> None:
    run = results(monolith=target("monolith", requests=99))
    checks = evaluate(run, "p95 < 10s", "lost == 0", min_requests=100)
    assert [c.verdict for c in checks] == ["error", "error"]
    assert "99 requests in the measured window, below gate.min_requests = 100" in checks[0].detail
    assert [c.verdict for c in evaluate(run, "p95 < 10s", min_requests=99)] == ["pass"]


def test_lost_without_acknowledged_orders_could_not_be_evaluated() -> None:
    (check,) = evaluate(results(monolith=target("monolith", acknowledged=0)), "lost == 0")
    assert check.verdict == "error" and "no acknowledged orders" in check.detail


def test_run_without_targets_could_not_be_evaluated() -> None:
    run = results()
    run["targets"] = {}
    (check,) = evaluate(run, "p95 < 1s")
    assert check.verdict == "error"


def check(verdict: str, scope: str = "monolith") -> Check:
    return Check("p95 < 200ms", scope, "150ms", "< 200ms", verdict, "" if verdict == "pass" else "why")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdicts", "code", "outcome"),
    [
        (["pass", "pass"], 0, "PASS"),
        (["pass", "fail"], 1, "FAIL"),
        (["pass", "error"], 2, "COULD NOT EVALUATE"),
        (["fail", "error"], 1, "FAIL"),
        ([], 2, "COULD NOT EVALUATE"),
    ],
)
def test_exit_codes(verdicts: list[str], code: int, outcome: str) -> None:
    checks = [check(v) for v in verdicts]
    assert gate_exit_code(checks) == code
    assert gate_outcome(checks) == outcome


def test_junit_parses_back_with_one_testcase_per_check() -> None:
    checks = [check("pass"), check("fail", scope="monolith GET /x?a=1&b=<2>"), check("error")]
    root = ET.fromstring(format_junit(checks))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert len(cases) == 3
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "why"
    assert cases[1].get("classname") == "archbench.gate.monolith GET /x?a=1&b=<2>"  # escaped, round-trips
    assert cases[1].get("name") == "p95 < 200ms"
    assert cases[2].find("error") is not None


def test_markdown_has_outcome_counts_and_escaped_rows() -> None:
    text = format_gate_markdown([check("pass"), check("fail", scope="a|b <script>")])
    lines = text.splitlines()
    assert lines[0] == "### archbench gate: FAIL"
    assert "1 passed, 1 failed, 0 could not be evaluated." in text
    assert lines[4] == "| verdict | scope | check | value | limit | detail |"
    # Markdown is not HTML: "<" stays "<" (was "&lt;", issue 10 item 7); a tag is still escaped
    assert "| ✅ pass | monolith | p95 < 200ms | 150ms | < 200ms |  |" in lines
    assert "a\\|b &lt;script&gt;" in text and "<script>" not in text
    # every table row has the same number of unescaped cell separators
    rows = [line for line in lines if line.startswith("|")]
    assert len({line.replace("\\|", "").count("|") for line in rows}) == 1


def test_console_table_lists_every_check() -> None:
    text = format_gate_table([check("pass"), check("fail", scope="monolith GET /products/{id}"),
                              check("error", scope="[bold]x[/]")])
    assert "archbench gate: FAIL" in text
    assert "PASS" in text and "FAIL" in text and "ERROR" in text
    assert "monolith GET /products/{id}" in text
    assert "[bold]x[/]" in text  # user text is not rich markup


def test_evaluation_does_not_modify_the_results() -> None:
    run = results()
    before = copy.deepcopy(run)
    evaluate(run, "p95 < 1s", "lost == 0", "monolith GET /products/{id}: rps > 1")
    assert run == before


def with_time_to_final(entry: dict[str, Any], count: int = 880, p95: float = 99.6, p99: float = 148.1) -> dict[str, Any]:
    entry["integrity"]["time_to_final"] = {"count": count, "p50_ms": 36.5, "p95_ms": p95 if count else None,
                                           "p99_ms": p99 if count else None, "max_ms": 529.5,
                                           "resolution_ms": 5.7}
    return entry


def test_time_to_final_thresholds_read_the_integrity_percentiles() -> None:
    run = results(monolith=target("monolith"), **{"event-driven": with_time_to_final(target("event-driven"))})
    checks = evaluate(run, "ttf_p95 < 100ms", "event-driven: ttf_p99 < 100ms")
    # unscoped: only the target that tracks time to final
    assert [(c.scope, c.verdict, c.value) for c in checks] == [
        ("event-driven", "pass", "99.6ms"), ("event-driven", "fail", "148.1ms"),
    ]
    assert checks[1].detail == "ttf_p99 is 148.1ms, needs < 100ms (over 880 tracked orders, resolution ±5.7ms)"
    assert (checks[1].metric, checks[1].target, checks[1].op, checks[1].bound) == ("ttf_p99", "event-driven", "<", "100ms")


def test_time_to_final_without_tracking_could_not_be_evaluated() -> None:
    (scoped,) = evaluate(results(monolith=target("monolith")), "monolith: ttf_p95 < 1s")
    assert scoped.verdict == "error" and "monolith does not track time to final" in scoped.detail
    (unscoped,) = evaluate(results(monolith=target("monolith")), "ttf_p95 < 1s")
    assert unscoped.verdict == "error" and "no target in this run tracks time to final" in unscoped.detail
    (empty,) = evaluate(results(**{"event-driven": with_time_to_final(target("event-driven"), count=0)}),
                        "ttf_p99 < 1s")
    assert empty.verdict == "error" and "no tracked order of event-driven reached a final status" in empty.detail


def invalid(entry: dict[str, Any], *reasons: str) -> dict[str, Any]:
    entry["valid"] = {"ok": False, "reasons": list(reasons)}
    return entry


def test_an_invalid_target_could_not_be_evaluated_with_its_reasons() -> None:
    # before: an interrupted INVALID run passed 'p95 < 2s'
    run = results(monolith=invalid(target("monolith"), "interrupted (SIGINT) after 30.0s of 60.0s"))
    checks = evaluate(run, "p95 < 2s", "lost == 0")
    assert [c.verdict for c in checks] == ["error", "error"]
    assert all("the run of monolith is INVALID (interrupted (SIGINT) after 30.0s of 60.0s)" in c.detail
               for c in checks)
    assert gate_exit_code(checks) == 2


def test_an_invalid_target_never_fails_and_a_valid_one_is_still_judged() -> None:
    run = results(monolith=invalid(target("monolith", p95=5000.0), "load generator CPU-bound"),
                  microservices=target("microservices"))
    checks = evaluate(run, "p95 < 2s")
    assert [(c.scope, c.verdict) for c in checks] == [("monolith", "error"), ("microservices", "pass")]


def test_a_regression_limit_that_disables_the_check_is_refused() -> None:
    # before: [gate.regression] limit = "15" meant +1500% and let a real +30% pass
    with pytest.raises(BenchError, match=r"gate.regression.limit = 15 means \+1500%.*write limit = \"15%\" \(or 0.15\)"):
        check_regression_limit(15.0)
    with pytest.raises(BenchError, match="valid: 0% <= limit < 100%"):
        check_regression_limit(1.0)
    with pytest.raises(BenchError, match="-10%"):
        check_regression_limit(-0.1)
    check_regression_limit(0.15)
    check_regression_limit(0.0)


def test_gate_json_names_every_check_with_units() -> None:
    run = results(monolith=target("monolith", p95=250.0))
    checks = evaluate(run, "monolith GET /products/{id}: p95 < 100ms", "p95 < 200ms", "error_rate < 1%")
    document = json.loads(format_gate_json(checks))
    assert document == gate_document(checks)
    assert (document["schema"], document["status"], document["exit_code"]) == ("archbench/gate@1", "FAIL", 1)
    assert document["counts"] == {"pass": 2, "fail": 1, "error": 0}
    assert document["baseline"] is None
    assert document["checks"][0] == {
        "kind": "threshold", "name": "p95 < 100ms", "target": "monolith", "endpoint": "GET /products/{id}",
        "metric": "p95", "op": "<", "limit": "100ms", "value": "80ms", "verdict": "pass", "detail": "",
    }
    assert document["checks"][1]["detail"] == "p95 is 250ms, needs < 200ms"
    assert (document["checks"][2]["limit"], document["checks"][2]["value"]) == ("1%", "0%")


def test_integrity_metrics_of_an_unchecked_record_could_not_be_evaluated() -> None:
    # before: float(None) raised a TypeError on an interrupted run's integrity record
    unchecked = target("monolith")
    unchecked["integrity"].update(found=None, lost=None, not_final=None, ok=False, checked=False,
                                  reasons=["not checked: interrupted (SIGTERM) before the orders were reconciled"])
    checks = evaluate(results(monolith=unchecked), "lost == 0", "not_final == 0", "p95 < 2s")
    assert [c.verdict for c in checks] == ["error", "error", "pass"]
    assert "not checked: interrupted (SIGTERM)" in checks[0].detail
    assert checks[0].detail.startswith("could not evaluate: the integrity of monolith was not checked")
    assert gate_exit_code(checks) == 2


def test_markdown_summary_uses_the_reports_escaping() -> None:
    from harness.report.markdown import escape_md

    failed = Check("p95 < 200ms", "monolith GET /x?a=1&b=2", "250ms", "< 200ms", "fail",
                   "p95 is 250ms, needs < 200ms")
    text = format_gate_markdown([failed])
    assert "&lt;" not in text and "&amp;" not in text and "needs < 200ms" in text
    assert escape_md("x `y` &amp;") in format_gate_markdown([check("pass", scope="x `y` &amp;")])


# -- capacity (issue 12 item 3) ---------------------------------------------------------------


def with_capacity(entry: dict[str, Any], kind: str = "bracketed", found: float | None = 420.0,
                  high: float | None = 460.0) -> dict[str, Any]:
    entry["capacity"] = {"slo": ["p99 < 200ms"], "kind": kind, "capacity_rps": found, "low_rps": found,
                         "high_rps": high, "generator_limited": kind == "at_least", "reason": "",
                         "description": "", "latency_from": "intended start", "p99_at_capacity_ms": 150.0,
                         "limited_by": "app", "steps": []}
    return entry


def test_capacity_threshold_reads_the_capacity_not_the_rps() -> None:
    run = results(monolith=with_capacity(target("monolith")), microservices=with_capacity(target("microservices"),
                                                                                          found=380.0, high=400.0))
    checks = evaluate(run, "capacity > 400")
    assert [(c.scope, c.verdict, c.value) for c in checks] == [
        ("monolith", "pass", "420.0/s"), ("microservices", "fail", "380.0/s"),
    ]
    assert checks[1].detail == "capacity is 380.0/s, needs > 400/s"
    assert checks[0].metric == "capacity" and checks[0].limit == "> 400/s"


def test_capacity_threshold_without_a_capacity_search_could_not_be_evaluated() -> None:
    [check] = evaluate(results(monolith=target("monolith")), "capacity > 400")
    assert check.verdict == "error"
    assert "has no capacity search" in check.detail and "bench capacity" in check.detail
    assert gate_exit_code([check]) == 2


@pytest.mark.parametrize(("kind", "found", "high", "expression", "verdict"), [
    ("at_least", 500.0, None, "capacity > 400", "pass"),  # at least 500: > 400 for sure
    ("at_least", 300.0, None, "capacity > 400", "error"),  # at least 300: may or may not be > 400
    ("below_lowest", None, 200.0, "capacity > 400", "fail"),  # below 200: not > 400
    ("below_lowest", None, 500.0, "capacity > 400", "error"),  # below 500: can't tell
])
def test_capacity_bounds_decide_only_what_they_prove(kind: str, found: float | None, high: float | None,
                                                     expression: str, verdict: str) -> None:
    [check] = evaluate(results(monolith=with_capacity(target("monolith"), kind, found, high)), expression)
    assert check.verdict == verdict, check.detail
    assert check.value == (f">={found:.1f}/s" if kind == "at_least" else f"<{high:.1f}/s")


def test_capacity_is_a_per_target_metric() -> None:
    with pytest.raises(BenchError, match="per-target metric"):
        parse_thresholds(["monolith GET /products/{id}: capacity > 400"])


def section(kind: str = "bracketed", found: float | None = 400.0, high: float | None = 440.0,
            slo: tuple[str, ...] = ("p99 < 200ms",)) -> dict[str, Any]:
    return {"slo": list(slo), "kind": kind, "capacity_rps": found, "low_rps": found, "high_rps": high}


@pytest.mark.parametrize(("current", "verdict", "why"), [
    (section(found=400.0, high=440.0), "pass", "within the limit"),
    (section(found=330.0, high=360.0), "pass", "over the limit but within the bracket"),  # 360 >= 340
    (section(found=300.0, high=330.0), "fail", "even the top of the bracket (330/s) is below 340/s"),
    (section("at_least", 350.0, None), "pass", "at least 350/s, within the limit"),
    (section("at_least", 300.0, None), "error", "the true capacity may be higher"),
    (section("below_lowest", None, 300.0), "fail", "below 340/s"),
    (section("below_lowest", None, 380.0), "error", "the drop is unknown"),
])
def test_capacity_regression_fails_only_beyond_the_limit_and_the_bracket(current: dict[str, Any], verdict: str,
                                                                         why: str) -> None:
    from harness.gate.capacity import capacity_regression

    found, change, detail = capacity_regression("monolith", current, section(), 0.15, "smoke")
    assert found == verdict, detail
    assert why in detail
    if current["capacity_rps"] is not None:
        assert change == f"{(current['capacity_rps'] / 400.0 - 1) * 100:+.1f}%"


def test_capacity_regression_needs_the_same_slo_and_a_baseline_capacity() -> None:
    from harness.gate.capacity import capacity_regression

    verdict, _, detail = capacity_regression("monolith", section(slo=("p99 < 100ms",)), section(), 0.15, "smoke")
    assert verdict == "error" and "same SLO" in detail
    verdict, _, detail = capacity_regression("monolith", section(), None, 0.15, "smoke")
    assert verdict == "error" and "save a baseline from a `bench capacity` run" in detail
    verdict, _, detail = capacity_regression("monolith", None, section(), 0.15, "smoke")
    assert verdict == "error" and "no capacity search" in detail
