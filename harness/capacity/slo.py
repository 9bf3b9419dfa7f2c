"""SLO verdicts for one capacity step: holds, breaks, or can't tell (pure: arrays in, verdicts out).

A step holds an SLO such as ``p99 < 200ms`` when the whole confidence interval of its
p99 lies below 200 ms, breaks it when the whole interval lies at or above, and is
unclear otherwise (the search repeats such a step). Intervals come from the gate's
circular block bootstrap over 1-second windows (``harness.gate.noise``): latency
samples are not independent, so time is resampled, not requests. Error rates are
resampled the same way from per-window (ok, failed) counts; arrivals the generator
dropped count as failed requests (the service did not answer them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError
from harness.gate.noise import bootstrap_quantiles, resample_pooled, window_histograms
from harness.gate.thresholds import Threshold, parse_threshold

Verdict = Literal["holds", "breaks", "unclear"]
_QUANTILES = {"p50_ms": 0.50, "p90_ms": 0.90, "p95_ms": 0.95, "p99_ms": 0.99, "p99_9_ms": 0.999}
RESAMPLES = 400
CONFIDENCE = 0.95


@dataclass(frozen=True)
class SloCheck:
    """One SLO condition judged on one step; values in the threshold's canonical unit (ms, fraction)."""

    condition: str  # e.g. "p99 < 200ms"
    measured: float  # point estimate (exact for latency quantiles)
    low: float  # confidence interval of the estimate
    high: float
    verdict: Verdict


def parse_slo(expressions: Iterable[str]) -> tuple[Threshold, ...]:
    """SLO conditions: latency percentiles or error_rate of the whole target, with ``<``/``<=``."""
    slos = []
    for expression in expressions:
        threshold = parse_threshold(expression)
        problem = ""
        if threshold.target is not None or threshold.endpoint is not None:
            problem = "an SLO applies to the whole target: drop the scope"
        elif threshold.metric.key not in _QUANTILES and threshold.metric.name != "error_rate":
            problem = "an SLO is a latency percentile (p50..p99.9) or error_rate"
        elif threshold.op not in ("<", "<="):
            problem = "an SLO is an upper bound: use < or <="
        if problem:
            raise ConfigError(f"SLO {expression!r}: {problem} (example: \"p99 < 200ms\", \"error_rate < 1%\")")
        slos.append(threshold)
    if not slos:
        raise ConfigError('no SLO given: set [capacity] slo in bench.toml or pass --slo "p99 < 200ms"')
    return tuple(slos)


def judge_step(
    slos: tuple[Threshold, ...],
    start_s: npt.ArrayLike,
    latency_ms: npt.ArrayLike,
    ok: npt.ArrayLike,
    *,
    window: tuple[float, float],
    dropped: int = 0,
    seed: int = 0,
) -> list[SloCheck]:
    """Judge every SLO on the requests that started in ``window`` (seconds, same clock as start_s).

    ``latency_ms`` is the latency the SLO is about (for open-model steps: from the
    intended start). Failed requests count in error_rate only; successful ones in the
    latency percentiles. ``dropped``: arrivals never sent, counted as failures.
    """
    starts = np.asarray(start_s, dtype=np.float64)
    latencies = np.asarray(latency_ms, dtype=np.float64)
    succeeded = np.asarray(ok, dtype=bool)
    begin, end = window
    inside = (starts >= begin) & (starts < end)
    rng = np.random.default_rng(seed)
    checks = []
    for slo in slos:
        if slo.metric.name == "error_rate":
            measured, low, high = _error_rate(starts[inside], succeeded[inside], begin, end,
                                              dropped, rng)
        else:
            keep = inside & succeeded
            measured, low, high = _quantile(starts[keep], latencies[keep], begin, end,
                                            _QUANTILES[slo.metric.key], rng)
        checks.append(SloCheck(slo.condition, measured, low, high, _verdict(slo, low, high)))
    return checks


def step_verdict(checks: list[SloCheck]) -> Verdict:
    """A step breaks when any SLO breaks, holds when all hold, else is unclear."""
    verdicts = {check.verdict for check in checks}
    if "breaks" in verdicts:
        return "breaks"
    return "holds" if verdicts == {"holds"} else "unclear"


def _verdict(slo: Threshold, low: float, high: float) -> Verdict:
    if slo.holds(high):
        return "holds"
    if not slo.holds(low):
        return "breaks"
    return "unclear"


def _quantile(
    starts: np.ndarray, latencies: np.ndarray, begin: float, end: float, quantile: float,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(exact percentile, interval low, high) in ms; infinite when nothing succeeded."""
    if latencies.size == 0:
        return float("inf"), float("inf"), float("inf")
    measured = float(np.quantile(latencies, quantile))
    histograms = window_histograms(starts, latencies, begin_s=begin, end_s=end)
    resampled = bootstrap_quantiles(histograms, (quantile,), rng, RESAMPLES)[0]
    resampled = resampled[np.isfinite(resampled)]
    if resampled.size == 0:
        return measured, measured, measured
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    # The binned bootstrap is ~5 % coarse: the interval always contains the exact value.
    return measured, min(float(low), measured), max(float(high), measured)


def _error_rate(
    starts: np.ndarray, ok: np.ndarray, begin: float, end: float, dropped: int,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(failed share, interval low, high) with dropped arrivals counted as failures."""
    total = ok.size + dropped
    if total == 0:
        return 1.0, 1.0, 1.0  # nothing was offered or answered: not a holding step
    measured = (int((~ok).sum()) + dropped) / total
    seconds = max(1, int(np.ceil(end - begin)))
    window = np.clip(((starts - begin) // 1).astype(np.int64), 0, seconds - 1)
    counts = np.zeros((seconds, 2), dtype=np.int64)
    np.add.at(counts, (window, (~ok).astype(np.int64)), 1)
    counts[:, 1] += np.bincount(np.arange(dropped) % seconds, minlength=seconds)  # spread evenly
    pooled = resample_pooled(counts, rng, RESAMPLES)  # (resamples, 2)
    shares = pooled[:, 1] / np.maximum(pooled.sum(axis=1), 1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(shares, [tail, 1 - tail])
    return measured, min(float(low), measured), max(float(high), measured)
