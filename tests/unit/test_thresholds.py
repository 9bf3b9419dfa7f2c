"""Threshold parsing: every valid form and every error names what is wrong."""

from __future__ import annotations

import pytest

from harness.errors import BenchError
from harness.gate.thresholds import METRICS, format_metric_value, parse_threshold, parse_thresholds


@pytest.mark.parametrize(
    ("expression", "metric", "op", "limit", "target", "endpoint"),
    [
        ("p95 < 200ms", "p95", "<", 200.0, None, None),
        ("p99.9 < 1s", "p99.9", "<", 1000.0, None, None),
        ("p99_9 < 1s", "p99.9", "<", 1000.0, None, None),
        ("p50<=1.1s", "p50", "<=", 1100.0, None, None),
        ("  p90   >=  250us ", "p90", ">=", 0.25, None, None),
        ("max < 2m", "max", "<", 120_000.0, None, None),
        ("mean < 0.5 ms", "mean", "<", 0.5, None, None),
        ("P99 < 300MS", "p99", "<", 300.0, None, None),
        ("p50 < 0.001ms", "p50", "<", 0.001, None, None),
        ("error_rate < 1%", "error_rate", "<", 0.01, None, None),
        ("error_rate <= 0.5%", "error_rate", "<=", 0.005, None, None),
        ("error_rate < 0.02", "error_rate", "<", 0.02, None, None),
        ("rps > 300", "rps", ">", 300.0, None, None),
        ("rps >= 12.5/s", "rps", ">=", 12.5, None, None),
        ("rps > 300rps", "rps", ">", 300.0, None, None),
        ("lost == 0", "lost", "==", 0.0, None, None),
        ("not_final == 0", "not_final", "==", 0.0, None, None),
        ("requests >= 100", "requests", ">=", 100.0, None, None),
        ("failures < 5", "failures", "<", 5.0, None, None),
        ("monolith: p95 < 200ms", "p95", "<", 200.0, "monolith", None),
        ("event-driven: lost == 0", "lost", "==", 0.0, "event-driven", None),
        ("*: p95 < 200ms", "p95", "<", 200.0, None, None),
        ("monolith GET /products/{id}: p95 < 100ms", "p95", "<", 100.0, "monolith", "GET /products/{id}"),
        ("microservices  POST /orders : error_rate < 1%", "error_rate", "<", 0.01, "microservices", "POST /orders"),
        ("* GET /products: rps > 10", "rps", ">", 10.0, None, "GET /products"),
    ],
)
def test_valid_forms(
    expression: str, metric: str, op: str, limit: float, target: str | None, endpoint: str | None
) -> None:
    threshold = parse_threshold(expression)
    assert threshold.metric.name == metric
    assert threshold.op == op
    assert threshold.limit == limit  # exact: decimal scaling, no 1100.0000000000002
    assert threshold.target == target
    assert threshold.endpoint == endpoint
    assert threshold.expression == expression


@pytest.mark.parametrize(
    ("expression", "bad_part", "valid"),
    [
        ("", "empty threshold", "valid metrics"),
        ("   ", "empty threshold", "valid metrics"),
        ("p97 < 200ms", "'p97'", "valid metrics: p50, p90, p95, p99, p99.9, max, mean"),
        ("latency < 200ms", "'latency'", "valid metrics"),
        ("p 95 < 1s", "'p 95'", "valid metrics"),
        ("< 200ms", "missing metric", "valid metrics"),
        ("p95 200ms", "missing operator after 'p95'", "valid operators: <, <=, >, >=, =="),
        ("fast", "unknown metric 'fast' and no operator", "valid metrics"),
        ("p95 = 200ms", "unknown operator '='", "write '=='"),
        ("p95 != 200ms", "unknown operator '!='", "valid operators"),
        ("p95 =< 200ms", "unknown operator '=<'", "valid operators"),
        ("p95 <", "missing value after '<'", "latency units"),
        ("p95 < 200", "latency '200' has no unit", "latency units: us, ms, s, m"),
        ("p95 < 200xs", "unknown latency unit 'xs'", "latency units: us, ms, s, m"),
        ("p95 < fast", "'fast' is not a latency", "latency units"),
        ("p95 < -5ms", "'-5ms' is not a latency", "latency units"),
        ("error_rate < 1 percent", "'1 percent' is not a rate", "percentage like '1%'"),
        ("error_rate < 150%", "'150%' is over 100%", "0..100%"),
        ("error_rate < 2", "'2' is over 100%", "fraction 0..1"),
        ("rps > many", "'many' is not a request rate", "requests per second"),
        ("rps > 300ms", "'300ms' is not a request rate", "requests per second"),
        ("lost == 0.5", "'0.5' is not a count", "whole number"),
        ("lost == none", "'none' is not a count", "whole number"),
        ("monolyth: p95 < 200ms", "unknown target 'monolyth'", "valid targets: monolith, microservices, event-driven"),
        (": p95 < 200ms", "empty scope", "valid scopes"),
        ("monolith POST /orders: lost == 0", "per-target metric", "per-endpoint metrics"),
    ],
)
def test_errors_name_the_expression_the_bad_part_and_the_choices(
    expression: str, bad_part: str, valid: str
) -> None:
    with pytest.raises(BenchError) as caught:
        parse_threshold(expression)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert repr(expression) in message
    assert bad_part in message
    assert valid in message
    assert "syntax: [TARGET [ENDPOINT]:] METRIC OP VALUE" in message


def test_parse_thresholds_stops_at_the_first_bad_one() -> None:
    assert len(parse_thresholds(["p95 < 1s", "lost == 0"])) == 2
    with pytest.raises(BenchError, match="p42"):
        parse_thresholds(["p95 < 1s", "p42 < 1s", "nonsense"])


@pytest.mark.parametrize(
    ("expression", "value", "holds"),
    [
        ("p95 < 200ms", 199.999, True),
        ("p95 < 200ms", 200.0, False),  # exactly at the limit: strict
        ("p95 <= 200ms", 200.0, True),
        ("p95 <= 0.2s", 200.0, True),
        ("rps > 300", 300.0, False),
        ("rps >= 300", 300.0, True),
        ("error_rate < 1%", 0.01, False),
        ("error_rate < 1%", 0.0099, True),
        ("lost == 0", 0.0, True),
        ("lost == 0", 1.0, False),
    ],
)
def test_holds_at_exact_boundaries(expression: str, value: float, holds: bool) -> None:
    assert parse_threshold(expression).holds(value) is holds


def test_condition_is_normalised() -> None:
    assert parse_threshold("monolith:  P95<=200 MS").condition == "p95 <= 200ms"
    assert parse_threshold("error_rate<1%").condition == "error_rate < 1%"
    assert parse_threshold("rps>300").condition == "rps > 300/s"


def test_format_metric_value_names_units() -> None:
    assert format_metric_value(METRICS["p95"], 212.44) == "212.4ms"
    assert format_metric_value(METRICS["p95"], 12_500.0) == "12.5s"
    assert format_metric_value(METRICS["error_rate"], 0.0052) == "0.52%"
    assert format_metric_value(METRICS["rps"], 312.04) == "312.0/s"
    assert format_metric_value(METRICS["lost"], 3.0) == "3"
    assert format_metric_value(METRICS["lost"], None) == "-"


@pytest.mark.parametrize(
    ("expression", "bad_part", "fix"),
    [
        ("error_rate < 1", "'1' is a bare number, read as the fraction 1 = 100%", "write '1%' for 1 percent"),
        ("error_rate <= 1.0", "'1.0' is a bare number", "write '1.0%' for 1.0 percent"),
        ("error_rate < 5", "'5' is over 100% as a fraction (5 = 500%)", "write '5%' for 5 percent"),
    ],
)
def test_a_bare_number_that_would_disable_an_error_rate_gate_is_refused_with_the_fix(
    expression: str, bad_part: str, fix: str
) -> None:
    # before: 'error_rate < 1' parsed as 100% and passed every run
    with pytest.raises(BenchError) as caught:
        parse_threshold(expression)
    message = str(caught.value)
    assert repr(expression) in message and bad_part in message and fix in message
    assert "a fraction below 1 like 0.01" in message


@pytest.mark.parametrize(
    ("expression", "condition"),
    [
        ("error_rate < 0.02", "error_rate < 2%"),
        ("error_rate < 0.005", "error_rate < 0.5%"),
        ("error_rate == 0", "error_rate == 0%"),
        ("error_rate < 100%", "error_rate < 100%"),
        ("p95 < 1.5s", "p95 < 1.5s"),
        ("rps > 300", "rps > 300/s"),
    ],
)
def test_limits_are_always_shown_with_their_unit(expression: str, condition: str) -> None:
    assert parse_threshold(expression).condition == condition


def test_time_to_final_percentiles_are_per_target_latency_metrics() -> None:
    threshold = parse_threshold("event-driven: ttf_p99 < 0.5s")
    assert (threshold.metric.name, threshold.metric.source, threshold.metric.key) == (
        "ttf_p99", "time_to_final", "p99_ms")
    assert threshold.limit == 500.0 and threshold.target == "event-driven"
    assert parse_threshold("ttf_p95 <= 200ms").metric.key == "p95_ms"
    with pytest.raises(BenchError, match="latency '500' has no unit"):
        parse_threshold("ttf_p95 < 500")
    with pytest.raises(BenchError, match="'ttf_p95' is a per-target metric"):
        parse_threshold("event-driven POST /orders: ttf_p95 < 1s")
