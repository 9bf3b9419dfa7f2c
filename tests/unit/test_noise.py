"""The regression noise model: seeded synthetic runs, trial counts in the tests."""

from __future__ import annotations

import numpy as np
import pytest

from harness.gate.noise import (
    MIN_WINDOWS,
    WindowHistograms,
    block_sums,
    compare_quantiles,
    histograms_from_dict,
    histograms_to_dict,
    pooled_quantiles,
    resample_pooled,
    student_t_quantile,
    window_histograms,
)

TRIALS = 100
LIMIT = 0.15
QUANTILES = (0.95, 0.99)  # the default [gate.regression] metrics
RESAMPLES = 2000  # the default [gate.regression] resamples


def synthetic_run(
    rng: np.random.Generator,
    *,
    scale: float = 1.0,
    seconds: int = 60,
    rps: float = 300.0,
    drift_sd: float = 0.05,
    spike_probability: float = 0.01,
    spike_factor: float = 1.5,
    run_sd: float = 0.02,
) -> WindowHistograms:
    """One run's per-second histograms with realistic noise.

    Latency = lognormal(20 ms, sigma 0.5) x a per-second load factor: AR(1) drift in
    log space (phi 0.7, innovations ``drift_sd``: about +-7 % per second), rare slow
    seconds (``spike_probability`` of seconds ``spike_factor`` x slower: GC, noisy
    neighbours), and a per-run offset (``run_sd``: the machine is a bit faster or
    slower today). Poisson arrivals at ``rps``. ``scale`` multiplies every latency.
    """
    drift = np.zeros(seconds)
    innovations = rng.normal(0.0, drift_sd, seconds)
    for t in range(1, seconds):
        drift[t] = 0.7 * drift[t - 1] + innovations[t]
    spikes = np.where(rng.random(seconds) < spike_probability, np.log(spike_factor), 0.0)
    factor = np.exp(drift + spikes + rng.normal(0.0, run_sd))
    second = np.repeat(np.arange(seconds), rng.poisson(rps, seconds))
    start = 1_700_000_000.0 + second + rng.random(second.size)
    latency = rng.lognormal(np.log(20.0), 0.5, second.size) * factor[second] * scale
    return window_histograms(start, latency, begin_s=1_700_000_000.0, end_s=1_700_000_000.0 + seconds)


def regressed(baseline: WindowHistograms, current: WindowHistograms, seed: int) -> bool:
    comparisons = compare_quantiles(
        baseline, current, QUANTILES, limit=LIMIT, confidence=0.95, resamples=RESAMPLES, seed=seed
    )
    return any(c.regressed for c in comparisons)


def test_same_distribution_passes_15_percent_gate_in_99_of_100_trials() -> None:
    passes = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(trial)
        passes += not regressed(synthetic_run(rng), synthetic_run(rng), seed=trial)
    assert passes >= 99, f"only {passes}/{TRIALS} same-distribution trials passed"


def test_true_30_percent_p95_shift_fails_in_99_of_100_trials() -> None:
    failures = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(10_000 + trial)
        failures += regressed(synthetic_run(rng), synthetic_run(rng, scale=1.3), seed=trial)
    assert failures >= 99, f"only {failures}/{TRIALS} shifted trials failed"


def test_short_noisy_runs_do_not_fail_on_noise_where_a_fixed_ratio_would() -> None:
    # smoke-like runs: 10 s at 40 req/s. A fixed "ratio > 1.15" rule trips on noise often;
    # the significance test keeps false alarms rare.
    naive = gate = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(20_000 + trial)
        baseline = synthetic_run(rng, seconds=10, rps=40)
        current = synthetic_run(rng, seconds=10, rps=40)
        comparisons = compare_quantiles(
            baseline, current, QUANTILES, limit=LIMIT, resamples=RESAMPLES, seed=trial
        )
        naive += any(c.ratio > 1 + LIMIT for c in comparisons)
        gate += any(c.regressed for c in comparisons)
    assert naive >= 10  # the noise is real...
    assert gate <= 5  # ...and the gate does not fail on it


def test_small_significant_change_passes_and_large_noisy_change_passes() -> None:
    rng = np.random.default_rng(7)
    baseline = synthetic_run(rng, rps=2000, spike_probability=0.0)
    small = compare_quantiles(baseline, synthetic_run(rng, rps=2000, spike_probability=0.0, scale=1.08),
                              (0.95,), limit=LIMIT, seed=1)[0]
    assert small.significant and not small.over_limit and not small.regressed


def test_histograms_count_every_request_in_its_window_and_bin() -> None:
    start = np.array([0.1, 0.9, 1.5, 2.99, 3.0, -0.1])
    latency = np.array([10.0, 10.2, 100.0, 1.0, 5.0, 5.0])
    h = window_histograms(start, latency, begin_s=0.0, end_s=3.0)
    assert h.windows == 3 and h.window_s == 1.0
    assert h.counts.sum(axis=1).tolist() == [2, 1, 1]  # 3.0 and -0.1 are outside [0, 3)
    assert h.requests == 4


def test_long_runs_merge_seconds_into_at_most_60_windows() -> None:
    start = np.arange(0, 1800, 0.5)
    h = window_histograms(start, np.full(start.size, 20.0), begin_s=0.0, end_s=1800.0)
    assert h.windows == 60 and h.window_s == 30.0 and h.requests == start.size


def test_pooled_quantile_matches_numpy_within_a_bin() -> None:
    rng = np.random.default_rng(3)
    latency = rng.lognormal(np.log(30.0), 0.7, 50_000)
    h = window_histograms(np.zeros(latency.size), latency, begin_s=0.0, end_s=1.0)
    for q in (0.5, 0.95, 0.99):
        binned = pooled_quantiles(h.counts.sum(axis=0), h.first_bin, (q,))[0, 0]
        assert binned == pytest.approx(np.quantile(latency, q), rel=0.01)


def test_pooled_quantile_of_an_empty_histogram_is_nan() -> None:
    assert np.isnan(pooled_quantiles(np.zeros((1, 4)), 0, (0.95,))[0, 0])


@pytest.mark.parametrize(("windows", "block"), [(17, 3), (60, 4), (8, 2), (5, 1), (9, 9)])
def test_block_bootstrap_pools_exactly_n_windows(windows: int, block: int) -> None:
    # window w holds one request in bin w, so a pooled row counts how often each window was drawn
    pooled = resample_pooled(np.eye(windows, dtype=np.int64), np.random.default_rng(0), 400, block=block)
    assert pooled.shape == (400, windows)
    assert (pooled.sum(axis=1) == windows).all()
    # every window is drawn about equally often over many resamples (circular: no edge effect)
    assert pooled.mean(axis=0) == pytest.approx(np.ones(windows), abs=0.3)


def test_block_sums_wrap_around() -> None:
    counts = np.arange(4)[:, None] * np.ones((1, 2), dtype=np.int64)  # window w holds w, w
    assert block_sums(counts, 3)[:, 0].tolist() == [0 + 1 + 2, 1 + 2 + 3, 2 + 3 + 0, 3 + 0 + 1]


def test_comparison_is_reproducible_with_the_same_seed() -> None:
    rng = np.random.default_rng(5)
    a, b = synthetic_run(rng), synthetic_run(rng)
    first = compare_quantiles(a, b, QUANTILES, limit=LIMIT, resamples=500, seed=9)
    second = compare_quantiles(a, b, QUANTILES, limit=LIMIT, resamples=500, seed=9)
    assert first == second
    assert all(c.low < c.ratio < c.high for c in first)


def test_too_few_windows_cannot_be_evaluated() -> None:
    short = window_histograms(np.arange(5.0), np.full(5, 10.0), begin_s=0.0, end_s=MIN_WINDOWS - 1)
    with pytest.raises(ValueError, match="time windows"):
        compare_quantiles(short, short, (0.95,), limit=LIMIT)


def test_histograms_round_trip_through_json_form() -> None:
    h = synthetic_run(np.random.default_rng(1), seconds=12, rps=50)
    back = histograms_from_dict(histograms_to_dict(h))
    assert back.first_bin == h.first_bin and back.window_s == h.window_s
    assert np.array_equal(back.counts, h.counts)
    with pytest.raises(ValueError, match="bin ratio"):
        histograms_from_dict({**histograms_to_dict(h), "bin_ratio": 1.1})
    with pytest.raises(ValueError, match="malformed"):
        histograms_from_dict({"counts": [[1]]})


@pytest.mark.parametrize(("degrees", "exact"), [(3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042)])
def test_student_t_quantile_is_close_to_the_table(degrees: int, exact: float) -> None:
    assert student_t_quantile(0.975, degrees) == pytest.approx(exact, rel=0.01)
