"""Noise-robust regression test for latency percentiles (pure: arrays in, verdicts out).

The question a regression gate asks is "is this run's p95 worse than the baseline's
by more than the limit, beyond what run-to-run noise explains?". Latency samples are
not independent: load, GC pauses and neighbours make consecutive seconds alike, so a
plain bootstrap over requests would claim false precision. We therefore resample
*time*, not requests.

Method
------
1. **Windows.** The measured window (warm-up excluded) is cut into per-second
   windows (merged into at most ``MAX_WINDOWS`` equal windows for long runs). Each
   window keeps a latency histogram on a shared logarithmic grid: bin ``k`` holds
   latencies in ``[BIN_RATIO**k, BIN_RATIO**(k+1))`` ms, i.e. 5 % wide bins. This
   is all a baseline stores for the noise model (a few kB, no raw samples).
2. **Circular block bootstrap.** One resample draws ``ceil(n / b)`` blocks of ``b``
   consecutive windows (block length ``b = round(n ** (1/3))``, the usual rate for
   the block bootstrap; wrap-around at the end) and pools their histograms. The
   percentile of the pooled histogram (log-linear interpolation inside the bin) is
   the resampled statistic. Blocks keep the short-range correlation between
   neighbouring seconds. It is vectorised: block histograms are precomputed from
   cumulative sums, and a resample is a gather-and-sum of ``ceil(n / b)`` of them.
3. **Ratio interval.** Baseline and current run are resampled independently
   (``B`` = ``gate.regression.resamples`` each, seeded), giving the bootstrap
   variance of each run's log-percentile. Under "no change" both runs come from
   the same process, so they share one noise level; we take the larger of the two
   estimates (a quiet run that happened to miss a rare slow second must not make
   the interval look tight): ``se = sqrt(2 * max(var_baseline, var_current))``.
   The interval of the ratio is ``exp(log(ratio) +- t * se)`` with ``t`` the
   Student quantile at ``gate.regression.confidence`` (two-sided) and ``n / b - 1``
   degrees of freedom (independent blocks minus one), which widens the interval
   for short runs where the bootstrap itself is unreliable.
4. **Verdict.** The check fails only when BOTH hold:
   - the change is larger than the limit: ``ratio > 1 + limit`` (ratio of the two
     point estimates; e.g. limit 15 %), and
   - it is statistically significant: ``low > 1`` (the whole interval is above
     "no change").
   A large but noisy change (wide interval reaching below 1) and a significant but
   small change (a real +5 %) both pass. The limit absorbs what the bootstrap cannot
   see — a machine that is a few percent slower today — and the interval absorbs
   sampling and within-run noise.

What it can and cannot do: a 15 % gate separates "no change" from "+30 %" reliably
only when one run's percentile varies by about 5 % or less from run to run (a
minute at a few hundred requests/s with modest per-second drift, see
tests/unit/test_noise.py). Noisier or shorter runs get wide intervals and pass
rather than fail on noise; lengthen the profile to regain power.

Both runs are binned the same way, so the ratio compares like with like; the
exact percentiles from results.json are shown beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

BIN_RATIO = 1.05  # width of one histogram bin: latencies within 5 % share a bin
MIN_LATENCY_MS = 1e-3  # latencies below 1 us are clamped into the first bin
MAX_WINDOWS = 60  # long runs merge seconds into at most this many windows
MIN_WINDOWS = 8  # fewer windows: the bootstrap cannot see the noise -> could not evaluate
_LOG_RATIO = math.log(BIN_RATIO)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WindowHistograms:
    """Latency histograms of consecutive time windows on the shared log grid.

    ``counts[w, j]`` is the number of requests that started in window ``w`` with a
    latency in global bin ``first_bin + j`` (bin k covers ``[BIN_RATIO**k,
    BIN_RATIO**(k+1))`` ms). ``window_s`` is each window's length in seconds.
    """

    window_s: float
    first_bin: int
    counts: IntArray  # shape (windows, bins)

    @property
    def windows(self) -> int:
        return int(self.counts.shape[0])

    @property
    def requests(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class Comparison:
    """Outcome of one percentile comparison; latencies in ms, ratios current/baseline."""

    quantile: float  # 0..1, e.g. 0.95
    baseline_ms: float  # binned point estimate of the baseline's percentile
    current_ms: float
    ratio: float  # current_ms / baseline_ms
    low: float  # confidence interval of the ratio (Student t on the log scale)
    high: float
    limit: float  # allowed relative increase, e.g. 0.15
    confidence: float  # e.g. 0.95

    @property
    def over_limit(self) -> bool:
        """The change is larger than the allowed increase."""
        return self.ratio > 1.0 + self.limit

    @property
    def significant(self) -> bool:
        """The increase is beyond the noise: the whole interval lies above 1."""
        return self.low > 1.0

    @property
    def regressed(self) -> bool:
        """Fail the gate: over the limit AND significant."""
        return self.over_limit and self.significant


def window_histograms(
    start_s: npt.ArrayLike,
    latency_ms: npt.ArrayLike,
    *,
    begin_s: float,
    end_s: float,
    max_windows: int = MAX_WINDOWS,
) -> WindowHistograms:
    """Bin requests that started in ``[begin_s, end_s)`` into per-window latency histograms.

    ``start_s`` are request start times in seconds (any common origin), ``latency_ms``
    response times in ms. Windows are 1 s long, or ``ceil(seconds / max_windows)`` s
    when the span has more than ``max_windows`` seconds. Empty windows are kept.
    """
    starts = np.asarray(start_s, dtype=np.float64)
    latencies = np.asarray(latency_ms, dtype=np.float64)
    seconds = max(1, math.ceil(end_s - begin_s))
    window_s = float(max(1, math.ceil(seconds / max_windows)))
    n_windows = max(1, math.ceil(seconds / window_s))
    keep = (starts >= begin_s) & (starts < end_s) & np.isfinite(latencies)
    window = np.minimum(((starts[keep] - begin_s) // window_s).astype(np.int64), n_windows - 1)
    bins = bin_index(latencies[keep])
    if bins.size == 0:
        return WindowHistograms(window_s, 0, np.zeros((n_windows, 1), dtype=np.int64))
    first = int(bins.min())
    width = int(bins.max()) - first + 1
    flat = np.bincount(window * width + (bins - first), minlength=n_windows * width)
    return WindowHistograms(window_s, first, flat.reshape(n_windows, width).astype(np.int64))


def bin_index(latency_ms: npt.ArrayLike) -> IntArray:
    """Global log-grid bin of each latency (ms): ``floor(log(latency) / log(BIN_RATIO))``."""
    values = np.maximum(np.asarray(latency_ms, dtype=np.float64), MIN_LATENCY_MS)
    return np.floor(np.log(values) / _LOG_RATIO).astype(np.int64)


def pooled_quantiles(pooled: npt.ArrayLike, first_bin: int, quantiles: tuple[float, ...]) -> FloatArray:
    """Percentiles (ms) of each row of pooled histograms ``(rows, bins)``: shape ``(len(quantiles), rows)``.

    Log-linear interpolation inside the bin holding the ``q * total``-th request;
    NaN for empty rows.
    """
    counts = np.atleast_2d(np.asarray(pooled))
    cumulative = np.cumsum(counts, axis=1, dtype=np.float64)
    totals = cumulative[:, -1]
    rows = np.arange(counts.shape[0])
    out = np.empty((len(quantiles), counts.shape[0]), dtype=np.float64)
    for i, q in enumerate(quantiles):
        rank = q * totals
        column = np.argmax(cumulative >= rank[:, None], axis=1)
        in_bin = counts[rows, column].astype(np.float64)
        below = cumulative[rows, column] - in_bin
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.clip(np.where(in_bin > 0, (rank - below) / in_bin, 0.0), 0.0, 1.0)
        values = np.exp((first_bin + column + fraction) * _LOG_RATIO)
        out[i] = np.where(totals > 0, values, np.nan)
    return out


def block_sums(counts: npt.ArrayLike, length: int) -> IntArray:
    """Histogram sums of ``length`` consecutive windows starting at each window (circular).

    Row ``s`` of the result is ``counts[s] + ... + counts[s + length - 1]`` (indices mod n).
    """
    matrix = np.asarray(counts, dtype=np.int64)
    n = matrix.shape[0]
    extended = np.concatenate([matrix, matrix[: length - 1]], axis=0)
    running = np.concatenate([np.zeros((1, matrix.shape[1]), np.int64), np.cumsum(extended, axis=0)])
    return running[length : length + n] - running[:n]


def resample_pooled(
    counts: npt.ArrayLike, rng: np.random.Generator, resamples: int, block: int | None = None
) -> IntArray:
    """Circular block bootstrap of pooled histograms, shape ``(resamples, bins)``.

    Each resample draws ``ceil(n / block)`` random block starts; a block covers windows
    ``start .. start + block - 1`` (mod n) and the last block is cut so that exactly
    ``n`` windows are pooled. Integer sums of precomputed block histograms: no BLAS,
    no per-resample Python loop.
    """
    matrix = np.asarray(counts, dtype=np.int64)
    windows = matrix.shape[0]
    length = block if block is not None else default_block_length(windows)
    length = max(1, min(length, windows))
    blocks = math.ceil(windows / length)
    last = windows - (blocks - 1) * length  # windows taken from the last (cut) block
    starts = rng.integers(0, windows, size=(resamples, blocks))
    pooled = block_sums(matrix, last)[starts[:, -1]]
    if blocks > 1:
        pooled = pooled + block_sums(matrix, length)[starts[:, :-1]].sum(axis=1)
    return pooled


def default_block_length(windows: int) -> int:
    """Block length in windows: ``round(n ** (1/3))``, at least 1."""
    return max(1, round(windows ** (1.0 / 3.0)))


def bootstrap_quantiles(
    histograms: WindowHistograms,
    quantiles: tuple[float, ...],
    rng: np.random.Generator,
    resamples: int,
) -> FloatArray:
    """Resampled percentiles (ms), shape ``(len(quantiles), resamples)``."""
    pooled = resample_pooled(histograms.counts, rng, resamples)
    return pooled_quantiles(pooled, histograms.first_bin, quantiles)


def compare_quantiles(
    baseline: WindowHistograms,
    current: WindowHistograms,
    quantiles: tuple[float, ...],
    *,
    limit: float,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[Comparison]:
    """Compare percentiles (e.g. ``(0.95, 0.99)``) of two runs; see the module docstring.

    Raises ``ValueError`` when either run has fewer than ``MIN_WINDOWS`` windows or
    no requests: the noise cannot be estimated.
    """
    for label, run in (("baseline", baseline), ("current run", current)):
        if run.windows < MIN_WINDOWS:
            raise ValueError(
                f"{label} has {run.windows} time windows; the noise model needs at least "
                f"{MIN_WINDOWS} (run for at least {MIN_WINDOWS} s after warm-up)"
            )
        if run.requests == 0:
            raise ValueError(f"{label} has no requests in its measured window")
    rng = np.random.default_rng(seed)
    base_log = np.log(bootstrap_quantiles(baseline, quantiles, rng, resamples))
    current_log = np.log(bootstrap_quantiles(current, quantiles, rng, resamples))
    windows = min(baseline.windows, current.windows)
    t = student_t_quantile(0.5 + confidence / 2.0, windows / default_block_length(windows) - 1.0)
    results: list[Comparison] = []
    base_points = pooled_quantiles(baseline.counts.sum(axis=0), baseline.first_bin, quantiles)[:, 0]
    current_points = pooled_quantiles(current.counts.sum(axis=0), current.first_bin, quantiles)[:, 0]
    for i, q in enumerate(quantiles):
        base_point, current_point = float(base_points[i]), float(current_points[i])
        log_ratio = math.log(current_point / base_point)
        se = math.sqrt(2.0 * max(float(np.var(base_log[i])), float(np.var(current_log[i]))))
        results.append(
            Comparison(
                quantile=q,
                baseline_ms=base_point,
                current_ms=current_point,
                ratio=math.exp(log_ratio),
                low=math.exp(log_ratio - t * se),
                high=math.exp(log_ratio + t * se),
                limit=limit,
                confidence=confidence,
            )
        )
    return results


def student_t_quantile(probability: float, degrees: float) -> float:
    """Quantile of Student's t (Cornish-Fisher expansion, Abramowitz & Stegun 26.7.5).

    Within 1 % of the exact value for ``degrees >= 3``; ``degrees`` is clamped to >= 1.
    """
    z = NormalDist().inv_cdf(probability)
    nu = max(1.0, degrees)
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )


def histograms_to_dict(histograms: WindowHistograms) -> dict[str, Any]:
    """JSON-able form for a baseline file (counts as nested lists of ints)."""
    return {
        "bin_ratio": BIN_RATIO,
        "window_s": histograms.window_s,
        "first_bin": histograms.first_bin,
        "counts": histograms.counts.tolist(),
    }


def histograms_from_dict(data: dict[str, Any]) -> WindowHistograms:
    """Inverse of ``histograms_to_dict``; raises ``ValueError`` on a malformed or foreign grid."""
    try:
        ratio = float(data["bin_ratio"])
        counts = np.asarray(data["counts"], dtype=np.int64)
        window_s = float(data["window_s"])
        first_bin = int(data["first_bin"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"noise histograms are malformed ({error})") from None
    if not math.isclose(ratio, BIN_RATIO):
        raise ValueError(f"histogram bin ratio {ratio} differs from this archbench's {BIN_RATIO}")
    if counts.ndim != 2 or (counts < 0).any():
        raise ValueError("noise histograms must be a (windows x bins) matrix of counts >= 0")
    return WindowHistograms(window_s, first_bin, counts)
