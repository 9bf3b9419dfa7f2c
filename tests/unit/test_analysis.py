"""harness.analysis: exact percentiles, warm-up cut, failure classes, validity, time series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import (
    Window,
    analyse,
    endpoint_table,
    grouped_percentiles,
    measured,
    percentiles_of,
    timeseries,
    validate,
)
from harness.results import SAMPLE_COLUMNS
from scenarios.plan import Stage, planned_users

T0 = 1_700_000_000.0


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Samples from (offset_s, latency_ms, name, status, ok, error) tuples."""
    records = [
        (T0 + offset, latency, name, status, ok, 10, error, "", "", float("nan"))
        for offset, latency, name, status, ok, error in rows
    ]
    return pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))


def test_percentiles_match_numpy_linear_on_random_data() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(3, 1, 10_001)
    qs = (0.5, 0.9, 0.95, 0.99, 0.999, 1.0)
    expected = np.percentile(values, [q * 100 for q in qs], method="linear")
    np.testing.assert_allclose(percentiles_of(values, qs), expected, rtol=1e-12)


def test_grouped_percentiles_match_numpy_per_group_and_leave_empty_groups_nan() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(20, 5_000)
    codes = rng.choice([0, 2, 3], size=5_000)  # group 1 empty
    result = grouped_percentiles(codes, values, 4, (0.5, 0.99))
    for group in (0, 2, 3):
        np.testing.assert_allclose(result[group], np.percentile(values[codes == group], [50, 99]))
    assert np.isnan(result[1]).all()


def test_hand_computed_percentiles_interpolate_linearly() -> None:
    # sorted 10, 20, 30, 40: p50 -> h = 1.5 -> 25; p90 -> h = 2.7 -> 37; max 40
    samples = frame([(1.0, v, "GET /x", 200, True, "") for v in (40, 10, 30, 20)])
    total, endpoints = endpoint_table(samples, duration_s=2.0)
    assert total["p50_ms"] == pytest.approx(25.0)
    assert total["p90_ms"] == pytest.approx(37.0)
    assert total["max_ms"] == 40.0
    assert total["mean_ms"] == 25.0
    assert total["rps"] == 2.0
    assert [e["name"] for e in endpoints] == ["GET /x"]


def test_single_sample_percentiles_equal_it() -> None:
    total, _ = endpoint_table(frame([(0.5, 12.5, "GET /x", 200, True, "")]), duration_s=1.0)
    assert total["p50_ms"] == total["p99_9_ms"] == total["max_ms"] == 12.5


def test_warmup_cut_keeps_only_the_measured_window() -> None:
    samples = frame([(offset, 1.0, "GET /x", 200, True, "") for offset in (0.0, 4.9, 5.0, 7.5, 9.99, 10.0)])
    window = Window.after_warmup(T0, T0 + 10.0, warmup_s=5.0)
    kept = measured(samples, window)
    assert list(kept["start_s"] - T0) == pytest.approx([5.0, 7.5, 9.99])
    assert window.duration_s == 5.0
    # also when the samples are not ordered (binary search only applies to sorted input)
    shuffled = samples.iloc[[3, 0, 5, 2, 1, 4]]
    assert sorted(measured(shuffled, window)["start_s"] - T0) == pytest.approx([5.0, 7.5, 9.99])


def test_warmup_longer_than_the_run_leaves_an_empty_window() -> None:
    window = Window.after_warmup(T0, T0 + 3.0, warmup_s=5.0)
    assert window.duration_s == 0.0
    result = analyse(frame([(1.0, 5.0, "GET /x", 200, True, "")]), window, min_requests=1, max_error_rate=0.5)
    assert result.summary["requests"] == 0
    assert result.summary["p50_ms"] is None
    assert not result.valid["ok"]


def test_failure_classes_per_endpoint_and_total() -> None:
    samples = frame([
        (1.0, 5.0, "GET /a", 200, True, ""),
        (1.1, 5.0, "GET /a", 404, False, "4xx"),
        (1.2, 5.0, "GET /a", 503, False, "5xx"),
        (1.3, 10_000.0, "POST /b", 0, False, "timeout"),
        (1.4, 1.0, "POST /b", 0, False, "connection"),
        (1.5, 1.0, "POST /b", 0, False, ""),  # unclassified failure counts as "other"
    ])
    total, endpoints = endpoint_table(samples, duration_s=1.0)
    by_name = {e["name"]: e for e in endpoints}
    assert by_name["GET /a"]["failure_classes"] == {"4xx": 1, "5xx": 1}
    assert by_name["GET /a"]["failures"] == 2
    assert by_name["GET /a"]["error_rate"] == pytest.approx(2 / 3)
    assert by_name["POST /b"]["failure_classes"] == {"connection": 1, "timeout": 1, "other": 1}
    assert total["failures"] == 5
    assert total["failure_classes"] == {"connection": 1, "timeout": 1, "4xx": 1, "5xx": 1, "other": 1}


def test_validity_rules() -> None:
    samples = frame([(1.0, 5.0, "GET /a", 200, True, "")] * 3 + [(1.0, 5.0, "GET /a", 500, False, "5xx")] * 7)
    total, _ = endpoint_table(samples, duration_s=1.0)
    ok = validate(total, min_requests=10, max_error_rate=0.8)
    assert ok["ok"] and ok["reasons"] == []
    too_few = validate(total, min_requests=11, max_error_rate=0.8)
    assert not too_few["ok"] and "only 10 requests" in too_few["reasons"][0]
    failing = validate(total, min_requests=10, max_error_rate=0.5)
    assert not failing["ok"] and "error rate 70.0%" in failing["reasons"][0]


def test_timeseries_bins_by_second_since_load_start() -> None:
    rows = [(2.1, 10.0, "GET /a", 200, True, ""), (2.9, 30.0, "GET /a", 200, True, ""),
            (3.5, 50.0, "GET /a", 500, False, "5xx")]
    window = Window.after_warmup(T0, T0 + 5.0, warmup_s=2.0)
    series = timeseries(measured(frame(rows), window), window, users=[1, 2, 3, 4, 5])
    assert list(series["t_s"]) == [2, 3, 4]
    assert list(series["requests"]) == [2, 1, 0]
    assert list(series["failures"]) == [0, 1, 0]
    assert list(series["rps"]) == [2.0, 1.0, 0.0]
    assert series["p50_ms"].iloc[0] == pytest.approx(20.0)
    assert series["max_ms"].iloc[1] == 50.0
    assert np.isnan(series["p95_ms"].iloc[2])
    assert list(series["users"]) == [3, 4, 5]


def test_timeseries_rps_uses_the_partial_second_at_the_window_edges() -> None:
    rows = [(2.6, 1.0, "GET /a", 200, True, ""), (2.7, 1.0, "GET /a", 200, True, "")]
    window = Window.after_warmup(T0, T0 + 3.0, warmup_s=2.5)
    series = timeseries(measured(frame(rows), window), window)
    assert list(series["t_s"]) == [2]
    assert series["rps"].iloc[0] == pytest.approx(4.0)  # 2 requests in half a second


def test_planned_users_ramps_at_spawn_rate_between_stages() -> None:
    stages = [Stage(duration=3, users=10, spawn_rate=4), Stage(duration=2, users=2, spawn_rate=5)]
    assert planned_users(stages, 6) == [4, 8, 10, 5, 2, 0]


def test_analyse_on_many_endpoints_matches_numpy() -> None:
    rng = np.random.default_rng(11)
    n = 50_000
    names = np.array(["GET /products", "GET /products/{id}", "POST /orders"])
    samples = pd.DataFrame({
        "start_s": T0 + np.sort(rng.uniform(0, 30, n)),
        "latency_ms": rng.gamma(2, 5, n),
        "name": names[rng.integers(0, 3, n)],
        "status": 200, "ok": True, "bytes": 1, "error": "", "order_id": "", "user": "",
    })
    window = Window.after_warmup(T0, T0 + 30, warmup_s=5)
    result = analyse(samples, window, min_requests=1, max_error_rate=0.1)
    kept = samples[samples["start_s"] >= T0 + 5]
    assert result.summary["requests"] == len(kept)
    assert result.summary["p99_ms"] == pytest.approx(np.percentile(kept["latency_ms"], 99))
    for endpoint in result.endpoints:
        part = kept[kept["name"] == endpoint["name"]]["latency_ms"]
        assert endpoint["p95_ms"] == pytest.approx(np.percentile(part, 95))
        assert endpoint["max_ms"] == part.max()
    assert result.timeseries["requests"].sum() == len(kept)
    assert result.valid["ok"]
