"""Pure statistics over raw request samples (numpy/pandas; no files, no clock, no network).

Input is a DataFrame with ``harness.results.SAMPLE_COLUMNS``. Everything is vectorised:
the cost is a few sorts over the whole array, never a Python loop per sample, so
10 million samples analyse in seconds.

Percentiles are exact, computed from every sample of the measured window with linear
interpolation between closest ranks (numpy's default ``method="linear"``, Hyndman & Fan
type 7): for ``n`` sorted values ``x`` and quantile ``q``, ``h = (n - 1) q`` and the
result is ``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``. All latencies
(successes and failures) count, as Locust does.

Which start a latency is measured from: closed-model runs from the moment the request
was sent; open-model runs from the moment the schedule intended it to be sent (response
time, corrected for coordinated omission), with the time from the actual send kept as
``service_*`` (service time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.results import LatencyStats, Validity

PERCENTILES = (0.50, 0.90, 0.95, 0.99, 0.999)
PERCENTILE_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms")
FAILURE_CLASSES = ("connection", "timeout", "4xx", "5xx", "other")
TIMESERIES_PERCENTILES = (0.50, 0.90, 0.95, 0.99)


@dataclass(frozen=True)
class Window:
    """The measured window in epoch seconds: ``[start_s, end_s)``; warm-up lies before it."""

    load_start_s: float
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    @classmethod
    def after_warmup(cls, load_start_s: float, load_end_s: float, warmup_s: float) -> Window:
        """The window from ``load_start_s + warmup_s`` to ``load_end_s`` (empty if warm-up is longer)."""
        start = min(load_start_s + warmup_s, load_end_s)
        return cls(load_start_s=load_start_s, start_s=start, end_s=load_end_s)


def measured(samples: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Samples whose request started inside ``window`` (the warm-up cut).

    When samples are ordered by start time (as the runner stores them) this is a slice
    found by binary search, with no copy.
    """
    start = samples["start_s"].to_numpy()
    if len(start) > 1 and bool(np.all(start[1:] >= start[:-1])):
        low, high = np.searchsorted(start, [window.start_s, window.end_s], side="left")
        return samples.iloc[int(low):int(high)]
    keep = (start >= window.start_s) & (start < window.end_s)
    return samples.loc[keep]


def grouped_percentiles(codes: np.ndarray, values: np.ndarray, groups: int, qs: Sequence[float]) -> np.ndarray:
    """Exact linear-interpolation percentiles of ``values`` per group.

    ``codes`` holds a group number 0..groups-1 per value. Returns an array of shape
    ``(groups, len(qs))``; rows of empty groups are NaN. Values are split by group with
    one stable integer sort (radix for small code ranges), then each group needs only a
    partial sort (``np.partition``) at the ranks the percentiles use: O(n) per group.
    """
    result = np.full((groups, len(qs)), np.nan)
    if len(values) == 0:
        return result
    small: np.ndarray = codes.astype(np.int16 if groups < 2**15 else np.int64, copy=False)
    if len(small) > 1 and bool(np.all(np.diff(small) >= 0)):
        grouped = values  # already grouped (e.g. time bins of time-ordered samples)
    else:
        grouped = values[np.argsort(small, kind="stable")]
    counts = np.bincount(codes, minlength=groups)
    ends = np.cumsum(counts)
    for group in np.flatnonzero(counts):
        part = grouped[ends[group] - counts[group]:ends[group]]
        result[group] = percentiles_of(part, qs)
    return result


def percentiles_of(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Linear-interpolation percentiles (numpy ``method="linear"``) of a non-empty array.

    Uses ``np.partition`` at the needed ranks instead of a full sort.
    """
    n = len(values)
    h = (n - 1) * np.asarray(qs, dtype=np.float64)
    low = np.floor(h).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    ranks = np.unique(np.concatenate((low, high)))
    part = np.partition(values, ranks)
    return part[low] + (h - low) * (part[high] - part[low])


def _empty_stats(name: str) -> LatencyStats:
    return LatencyStats(
        name=name, requests=0, failures=0, error_rate=0.0, rps=0.0, mean_ms=None,
        p50_ms=None, p90_ms=None, p95_ms=None, p99_ms=None, p99_9_ms=None, max_ms=None,
        failure_classes={},
    )


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def endpoint_table(samples: pd.DataFrame, duration_s: float) -> tuple[LatencyStats, list[LatencyStats]]:
    """(totals, per-endpoint stats sorted by name) over already-measured samples.

    ``duration_s`` is the measured window length; RPS = requests / duration_s.
    """
    if len(samples) == 0:
        return _empty_stats("total"), []
    latency = samples["latency_ms"].to_numpy(dtype=np.float64)
    ok = samples["ok"].to_numpy(dtype=bool)
    names = samples["name"].astype("category")
    codes = names.cat.codes.to_numpy()
    labels = [str(label) for label in names.cat.categories]
    groups = len(labels)
    qs = (*PERCENTILES, 1.0)  # q = 1 is the max
    pct = np.vstack((grouped_percentiles(codes, latency, groups, qs), percentiles_of(latency, qs)))
    count = np.bincount(codes, minlength=groups)
    fails = np.bincount(codes, weights=~ok, minlength=groups).astype(np.int64)
    sums = np.bincount(codes, weights=latency, minlength=groups)
    maxes = pct[:, -1]
    class_counts = _failure_matrix(codes, ok, samples["error"], groups)

    def build(name: str, index: int, requests: int, failures: int, total_ms: float, max_ms: float,
              klass: dict[str, int]) -> LatencyStats:
        row = pct[index]
        stats = LatencyStats(
            name=name, requests=int(requests), failures=int(failures),
            error_rate=float(failures) / float(requests) if requests else 0.0,
            rps=float(requests) / duration_s if duration_s > 0 else 0.0,
            mean_ms=float(total_ms) / float(requests) if requests else None,
            p50_ms=None, p90_ms=None, p95_ms=None, p99_ms=None, p99_9_ms=None,
            max_ms=float(max_ms) if requests else None,
            failure_classes=klass,
        )
        for key, value in zip(PERCENTILE_KEYS, row[:-1], strict=False):
            stats[key] = _none_if_nan(value)  # type: ignore[literal-required]
        return stats

    def classes_of(row: np.ndarray) -> dict[str, int]:
        return {klass: int(n) for klass, n in zip(FAILURE_CLASSES, row, strict=False) if n}

    endpoints = [
        build(label, index, count[index], fails[index], sums[index], maxes[index], classes_of(class_counts[index]))
        for index, label in enumerate(labels)
    ]
    total = build("total", groups, len(latency), int((~ok).sum()), float(latency.sum()),
                  float(maxes[groups]), classes_of(class_counts.sum(axis=0)))
    return total, sorted(endpoints, key=lambda s: s["name"])


def _failure_matrix(codes: np.ndarray, ok: np.ndarray, error: pd.Series, groups: int) -> np.ndarray:
    """Failures per (group, FAILURE_CLASSES index); an empty or unknown class counts as "other"."""
    error = error.astype("category")  # cheap when the column is already categorical
    known = np.array(
        [FAILURE_CLASSES.index(c) if c in FAILURE_CLASSES else FAILURE_CLASSES.index("other")
         for c in map(str, error.cat.categories)] + [FAILURE_CLASSES.index("other")],
        dtype=np.int64,
    )
    klass = known[error.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing "other"
    failed = ~ok
    cells = codes[failed].astype(np.int64) * len(FAILURE_CLASSES) + klass[failed]
    matrix = np.bincount(cells, minlength=groups * len(FAILURE_CLASSES))
    return matrix.reshape(groups, len(FAILURE_CLASSES))


def timeseries(
    samples: pd.DataFrame, window: Window, users: Sequence[int] | None = None
) -> pd.DataFrame:
    """One row per whole second of the measured window (``TIMESERIES_COLUMNS``).

    ``t_s`` is seconds since the load started (so the first row's t_s is the warm-up);
    each row covers requests that *started* in ``[t_s, t_s + 1)``. ``users[i]`` is the
    planned user count at second ``i`` since load start (from the profile), when given.
    Seconds without requests appear with zero counts and empty percentiles.
    """
    first = int(np.floor(window.start_s - window.load_start_s))
    last = int(np.ceil(window.end_s - window.load_start_s))
    seconds = np.arange(first, max(first, last))
    frame = pd.DataFrame({"t_s": seconds})
    start = samples["start_s"].to_numpy(dtype=np.float64)
    second = np.floor(start - window.load_start_s).astype(np.int64)
    slot = np.clip(second - first, 0, max(len(seconds) - 1, 0))
    groups = len(seconds)
    if groups == 0:
        return pd.DataFrame(columns=list(_TS_COLUMNS))
    requests = np.bincount(slot, minlength=groups)[:groups]
    ok = samples["ok"].to_numpy(dtype=bool)
    failures = np.bincount(slot, weights=~ok, minlength=groups)[:groups].astype(np.int64)
    latency = samples["latency_ms"].to_numpy(dtype=np.float64)
    pct = grouped_percentiles(slot, latency, groups, (*TIMESERIES_PERCENTILES, 1.0))
    maxes = pct[:, -1]
    width = np.ones(groups)
    # the first and last seconds may be partial: rps divides by the part inside the window
    width[0] = min(1.0, first + 1 - (window.start_s - window.load_start_s))
    width[-1] = min(width[-1], (window.end_s - window.load_start_s) - seconds[-1])
    width = np.clip(width, 1e-9, 1.0)
    frame["requests"] = requests
    frame["failures"] = failures
    frame["rps"] = requests / width
    for column, key in enumerate(("p50_ms", "p90_ms", "p95_ms", "p99_ms")):
        frame[key] = pct[:, column]
    frame["max_ms"] = maxes
    if users is not None:
        plan = np.asarray(users, dtype=np.int64)
        frame["users"] = plan[np.clip(seconds, 0, len(plan) - 1)] if len(plan) else 0
    else:
        frame["users"] = 0
    return frame


_TS_COLUMNS = ("t_s", "requests", "failures", "rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "users")


@dataclass(frozen=True)
class Analysis:
    """Everything computed from one target's samples."""

    window: Window
    summary: LatencyStats
    endpoints: list[LatencyStats]
    timeseries: pd.DataFrame
    valid: Validity


def analyse(
    samples: pd.DataFrame, window: Window, *, min_requests: int, max_error_rate: float,
    users: Sequence[int] | None = None, dropped_s: np.ndarray | None = None,
) -> Analysis:
    """Warm-up cut, totals, per-endpoint table, 1-second series and validity.

    Open-model samples (``intended_s`` set) are measured from their intended start:
    the window takes the requests *meant* to start in it, and every latency figure is
    the response time a user would see (corrected for coordinated omission, as wrk2
    does); the service time from the actual send is added as ``service_*`` keys, with
    the generator's send lag and the arrivals it dropped (``dropped_s``: their intended
    start times). Closed-model samples keep latency from the actual send.
    """
    open_model = is_open_model_samples(samples)
    view = response_time_view(samples) if open_model else samples
    kept = measured(view, window)
    summary, endpoints = endpoint_table(kept, window.duration_s)
    if open_model:
        _add_service_time(summary, endpoints, measured_by_intent(samples, window), window)
        intended = np.asarray(dropped_s if dropped_s is not None else [], dtype=np.float64)
        summary["dropped"] = int(np.sum((intended >= window.start_s) & (intended < window.end_s)))
    series = timeseries(kept, window, users)
    valid = validate(summary, min_requests=min_requests, max_error_rate=max_error_rate)
    return Analysis(window=window, summary=summary, endpoints=endpoints, timeseries=series, valid=valid)


def is_open_model_samples(samples: pd.DataFrame) -> bool:
    """Whether ``samples`` carry intended start times (an open-model run)."""
    return "intended_s" in samples and bool(samples["intended_s"].notna().any())


def response_time_view(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples re-timed to their intended start: ``start_s`` = intended, ``latency_ms`` from it.

    Requests without an intended time (log-ins before the schedule) keep their own.
    """
    intended = samples["intended_s"].to_numpy(dtype=np.float64)
    start = samples["start_s"].to_numpy(dtype=np.float64)
    latency = samples["latency_ms"].to_numpy(dtype=np.float64)
    has = np.isfinite(intended)
    view = samples.copy(deep=False)
    view["start_s"] = np.where(has, intended, start)
    view["latency_ms"] = np.where(has, (start - intended) * 1000.0 + latency, latency)
    return view


def measured_by_intent(samples: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The same requests as the response-time view keeps, with their service-time columns."""
    intended = samples["intended_s"].to_numpy(dtype=np.float64)
    start = np.where(np.isfinite(intended), intended, samples["start_s"].to_numpy(dtype=np.float64))
    return samples.loc[(start >= window.start_s) & (start < window.end_s)]


def _add_service_time(summary: LatencyStats, endpoints: list[LatencyStats], kept: pd.DataFrame,
                      window: Window) -> None:
    """Copy service-time figures (from the actual send) in as ``service_*``, and the send lag."""
    service_total, service_endpoints = endpoint_table(kept, window.duration_s)
    by_name = {stats["name"]: stats for stats in service_endpoints}
    for target, source in ((summary, service_total), *((e, by_name.get(e["name"])) for e in endpoints)):
        if source is None:
            continue
        target["service_mean_ms"] = source["mean_ms"]
        target["service_p50_ms"] = source["p50_ms"]
        target["service_p90_ms"] = source["p90_ms"]
        target["service_p95_ms"] = source["p95_ms"]
        target["service_p99_ms"] = source["p99_ms"]
        target["service_p99_9_ms"] = source["p99_9_ms"]
        target["service_max_ms"] = source["max_ms"]
    intended = kept["intended_s"].to_numpy(dtype=np.float64)
    lag = (kept["start_s"].to_numpy(dtype=np.float64) - intended) * 1000.0
    lag = lag[np.isfinite(lag)]
    summary["send_lag_p99_ms"] = float(np.percentile(lag, 99)) if lag.size else None
    summary["send_lag_max_ms"] = float(lag.max()) if lag.size else None


def validate(summary: LatencyStats, *, min_requests: int, max_error_rate: float) -> Validity:
    """Whether the latency figures mean anything: enough requests, not mostly failures."""
    reasons: list[str] = []
    if summary["requests"] < min_requests:
        reasons.append(
            f"only {summary['requests']} requests in the measured window (minimum {min_requests}): "
            "run longer or with more users"
        )
    if summary["requests"] and summary["error_rate"] > max_error_rate:
        reasons.append(
            f"error rate {summary['error_rate']:.1%} is above {max_error_rate:.0%}: "
            "the latency figures describe failures, not the service"
        )
    return Validity(ok=not reasons, reasons=reasons)
