"""Recovery metrics: what each injected fault did to a target, from the raw samples (pure).

Input: the samples of one load run (``SAMPLE_COLUMNS``), the arrivals the generator
dropped, the fault events the scheduler recorded (``harness.faults_run``) and what the
integrity check found. Output: the ``faults`` section of results.json.

Definitions (every time in seconds since the load started; a request belongs to the
second of its *intended* start in open-model runs, as the analysis does):

- **availability** of a set of requests: the share that succeeded; a dropped arrival
  (never sent) is a failure of class ``dropped``.
- **fault window**: from the moment the fault was applied to the moment it was over
  (resumed for a pause; healthy again for a kill or restart; else the next fault).
- **band**: from the healthy seconds between the warm-up and the first fault (the
  baseline), a second is *in band* when its error rate is at most the baseline's worst
  second plus ``ERROR_MARGIN`` and its p99 at most ``max(P99_FACTOR x worst, worst +
  P99_SLACK_MS)`` over the baseline's seconds (per-second p99s of a few dozen requests are
  noisy: the margin keeps noise from reading as "not recovered", while a draining backlog
  or a hung dependency is far above it).
- **time to recover**: from the fault to the start of the first second from which every
  second up to ``NEXT_FAULT_GUARD_S`` before the next fault (requests in flight when it
  hits are its victims), or to the end of the load, is in band; None when the load ended,
  or the next fault came, before that. 0 when the fault left no trace.
- **time to first failure**: from the fault to the first failed request that completed
  after it.
- **error budget consumed**: failures in the impact window (fault to recovery) over the
  run's budget, ``(1 - objective) x measured requests``; 1.0 = the whole budget.
- an endpoint **stayed up** during a fault at >= ``UP_AT`` availability and **went
  down** below ``DOWN_BELOW``; a fault took **everything down** when every endpoint with
  requests in its window went down. A target is a *single point of failure* design when
  one fault on one instance took everything down, else *fault tolerant* (to the faults
  injected).
- **orders** per impact window, Jepsen's way: acknowledged (ok), lost (acknowledged and
  never found: the only loss there is), stuck (acknowledged, never final), duplicated
  (one id acknowledged twice), indeterminate (no answer: may or may not exist; never
  counted as lost) and failed (a 4xx: did not happen).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis import grouped_percentiles, is_open_model_samples, response_time_view
from harness.results import (
    EndpointDuring,
    FaultEvent,
    FaultOrders,
    FaultResult,
    FaultsSection,
    PerSecond,
)

OBJECTIVE = 0.999  # availability objective the error budget comes from
ERROR_MARGIN = 0.02  # a recovered second may fail this much more than the worst baseline second
P99_FACTOR = 1.5  # ... and have a p99 up to this times the baseline's worst second
P99_SLACK_MS = 100.0  # ... or up to this much above it, whichever is more
NEXT_FAULT_GUARD_S = 1.0  # a fault's evaluation ends this long before the next fault
UP_AT = 0.99
DOWN_BELOW = 0.5
CONTEXT_S = 3  # seconds before a fault its per-second series starts
ORDER_ENDPOINT = "POST /orders"


@dataclass(frozen=True)
class FaultInputs:
    """Everything the recovery metrics read (epoch seconds unless named otherwise)."""

    samples: pd.DataFrame  # SAMPLE_COLUMNS, the whole run (warm-up included)
    events: Sequence[FaultEvent]
    load_start_s: float
    load_end_s: float
    warmup_s: float  # seconds
    dropped: pd.DataFrame | None = None  # intended_s, name of arrivals never sent
    lost_ids: frozenset[str] | None = None  # None: integrity not checked
    stuck_ids: frozenset[str] | None = None
    orders_created: int | None = None  # new orders in the store after load (GET /stats)
    objective: float = OBJECTIVE


@dataclass
class _Requests:
    """The run's requests as arrays, times relative to load start (s)."""

    t: np.ndarray  # intended (open model) or actual start
    done: np.ndarray  # when the answer (or error) arrived
    latency: np.ndarray  # ms from t; NaN for dropped arrivals
    ok: np.ndarray
    name: np.ndarray  # endpoint names (object)
    klass: np.ndarray  # failure class, "dropped" for dropped arrivals
    status: np.ndarray
    order_id: np.ndarray
    second: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.second = np.floor(self.t).astype(np.int64)


def _requests(inputs: FaultInputs) -> _Requests:
    samples = inputs.samples
    view = response_time_view(samples) if is_open_model_samples(samples) else samples
    origin = inputs.load_start_s
    sent = samples["start_s"].to_numpy(dtype=np.float64)
    latency = view["latency_ms"].to_numpy(dtype=np.float64)
    parts = {
        "t": view["start_s"].to_numpy(dtype=np.float64) - origin,
        "done": sent + samples["latency_ms"].to_numpy(dtype=np.float64) / 1000.0 - origin,
        "latency": latency, "ok": samples["ok"].to_numpy(dtype=bool),
        "name": samples["name"].astype(str).to_numpy(dtype=object),
        "klass": samples["error"].astype(str).to_numpy(dtype=object),
        "status": samples["status"].to_numpy(dtype=np.int64),
        "order_id": samples["order_id"].astype(str).to_numpy(dtype=object),
    }
    dropped = inputs.dropped
    if dropped is not None and len(dropped):
        when = dropped["intended_s"].to_numpy(dtype=np.float64) - origin
        count = len(when)
        extra = {"t": when, "done": when, "latency": np.full(count, np.nan), "ok": np.zeros(count, bool),
                 "name": dropped["name"].astype(str).to_numpy(dtype=object),
                 "klass": np.full(count, "dropped", dtype=object), "status": np.zeros(count, np.int64),
                 "order_id": np.full(count, "", dtype=object)}
        parts = {key: np.concatenate((value, extra[key])) for key, value in parts.items()}
    return _Requests(**parts)


@dataclass(frozen=True)
class _Seconds:
    """Per whole second of the load: requests, failures and p99 (ms)."""

    requests: np.ndarray
    failures: np.ndarray
    p99_ms: np.ndarray  # NaN: no answered request

    def error_rate(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.requests > 0, self.failures / np.maximum(self.requests, 1), 0.0)


def _per_second(requests: _Requests, seconds: int) -> _Seconds:
    inside = (requests.second >= 0) & (requests.second < seconds)
    slot = requests.second[inside]
    counts = np.bincount(slot, minlength=seconds)[:seconds]
    failures = np.bincount(slot, weights=~requests.ok[inside], minlength=seconds)[:seconds].astype(np.int64)
    answered = inside & np.isfinite(requests.latency)
    order = np.argsort(requests.second[answered], kind="stable")
    p99 = grouped_percentiles(requests.second[answered][order], requests.latency[answered][order],
                              seconds, (0.99,))[:, 0]
    return _Seconds(requests=counts, failures=failures, p99_ms=p99)


def band_of(series: _Seconds, first: int, end: int) -> dict[str, float | None]:
    """Ceilings of a recovered second from baseline seconds ``[first, end)`` (empty: no band)."""
    if end <= first:
        return {"error_rate": None, "p99_ms": None}
    rates = series.error_rate()[first:end]
    p99 = series.p99_ms[first:end]
    p99 = p99[np.isfinite(p99)]
    worst = float(p99.max()) if len(p99) else None
    ceiling = None if worst is None else max(P99_FACTOR * worst, worst + P99_SLACK_MS)
    return {"error_rate": min(1.0, float(rates.max()) + ERROR_MARGIN), "p99_ms": ceiling}


def _in_band(series: _Seconds, band: dict[str, float | None]) -> np.ndarray:
    error_ceiling, p99_ceiling = band["error_rate"], band["p99_ms"]
    good = series.error_rate() <= (error_ceiling if error_ceiling is not None else 1.0)
    if p99_ceiling is not None:
        good &= ~(series.p99_ms > p99_ceiling)  # NaN (no answer that second) is not a breach
    return np.asarray(good)


def recovery_second(in_band: np.ndarray, first: int, end: int) -> int | None:
    """The first second in ``[first, end)`` from which every second to ``end`` is in band."""
    if end <= first:
        return None
    tail = in_band[first:end]
    if not tail[-1]:
        return None
    bad = np.flatnonzero(~tail)
    return first + (int(bad[-1]) + 1 if len(bad) else 0)


def _endpoints(requests: _Requests, mask: np.ndarray) -> list[EndpointDuring]:
    rows: list[EndpointDuring] = []
    for name in sorted(set(requests.name[mask])):
        chosen = mask & (requests.name == name)
        total = int(chosen.sum())
        failed = chosen & ~requests.ok
        availability = 1.0 - int(failed.sum()) / total if total else None
        classes = pd.Series(requests.klass[failed]).replace("", "other").value_counts()
        state = ("up" if availability is None or availability >= UP_AT
                 else "down" if availability < DOWN_BELOW else "degraded")
        rows.append(EndpointDuring(name=str(name), requests=total, failures=int(failed.sum()),
                                   availability=availability, state=state,  # type: ignore[typeddict-item]
                                   failure_classes={str(k): int(v) for k, v in classes.items()}))
    return rows


def _orders(requests: _Requests, mask: np.ndarray, inputs: FaultInputs,
            acknowledged_twice: frozenset[str]) -> FaultOrders:
    placing = mask & (requests.name == ORDER_ENDPOINT)
    ids = [str(i) for i in requests.order_id[placing] if str(i)]
    no_answer = placing & ~requests.ok & ((requests.status == 0) | (requests.status >= 500))
    refused = placing & ~requests.ok & (requests.status >= 400) & (requests.status < 500)
    lost = None if inputs.lost_ids is None else sum(1 for i in ids if i in inputs.lost_ids)
    stuck_ids = [] if inputs.stuck_ids is None else sorted({i for i in ids if i in inputs.stuck_ids})
    return FaultOrders(acknowledged=len(ids), lost=lost,
                       stuck=None if inputs.stuck_ids is None else len(stuck_ids), stuck_ids=stuck_ids,
                       duplicated=len({i for i in ids if i in acknowledged_twice}),
                       indeterminate=int(no_answer.sum()), failed=int(refused.sum()))


def _per_second_record(series: _Seconds, first: int, end: int) -> PerSecond:
    span = range(max(0, first), max(first, min(end, len(series.requests))))  # an interrupted run is shorter
    availability = [None if series.requests[s] == 0 else 1.0 - float(series.failures[s]) / series.requests[s]
                    for s in span]
    return PerSecond(t_s=list(span), requests=[int(series.requests[s]) for s in span],
                     availability=availability,
                     p99_ms=[None if np.isnan(series.p99_ms[s]) else float(series.p99_ms[s]) for s in span])


@dataclass(frozen=True)
class _Run:
    """What every fault of one run shares."""

    inputs: FaultInputs
    requests: _Requests
    series: _Seconds
    in_band: np.ndarray
    seconds: int  # whole seconds of load
    budget: float | None  # failures the run may have at the objective
    acknowledged_twice: frozenset[str]


def _fault(run: _Run, event: FaultEvent, until_s: float) -> FaultResult:
    """The record of one applied fault whose evaluation ends at ``until_s`` (s since load start)."""
    inputs, requests = run.inputs, run.requests
    at = float(event["offset_s"] or 0.0)
    over = event["end_s"] - inputs.load_start_s if event["end_s"] is not None else until_s
    window_end = min(max(over, at), until_s)
    during = (requests.t >= at) & (requests.t < max(window_end, at + 1e-9))
    recovered = recovery_second(run.in_band, int(np.floor(at)), int(np.floor(until_s)))
    recover_s = None if recovered is None else max(0.0, recovered - at)
    impact_end = min(until_s, max(window_end, recovered if recovered is not None else until_s))
    impact = (requests.t >= at) & (requests.t < impact_end)
    failed_after = ~requests.ok & (requests.done >= at) & (requests.done < until_s)
    first_failure = float(requests.done[failed_after].min() - at) if failed_after.any() else None
    endpoints = _endpoints(requests, during)
    total, failures = int(during.sum()), int((during & ~requests.ok).sum())
    classes = pd.Series(requests.klass[during & ~requests.ok]).replace("", "other").value_counts()
    went_down = [e["name"] for e in endpoints if e["state"] == "down"]
    everything_down = bool(endpoints) and len(went_down) == len(endpoints)
    budget_failures = int((impact & ~requests.ok).sum())
    return FaultResult(
        event=event, window_s=[at, window_end], impact_s=[at, impact_end], requests=total,
        failures=failures, availability=1.0 - failures / total if total else None,
        failure_classes={str(k): int(v) for k, v in classes.items()}, endpoints=endpoints,
        stayed_up=[e["name"] for e in endpoints if e["state"] == "up"], went_down=went_down,
        everything_down=everything_down, time_to_first_failure_s=first_failure,
        time_to_recover_s=recover_s,
        error_budget_consumed=budget_failures / run.budget if run.budget else None,
        per_second=_per_second_record(run.series, int(np.floor(at)) - CONTEXT_S, int(np.floor(until_s))),
        orders=_orders(requests, impact, inputs, run.acknowledged_twice),
        summary=describe_fault(event, endpoints),
    )


def describe_fault(event: FaultEvent, endpoints: Sequence[EndpointDuring]) -> str:
    """One sentence: which endpoints stayed up and which went down while the fault lasted."""
    what = f"{event['instance']} was {'paused' if event['action'] == 'pause' else 'down'}"
    if not endpoints:
        return f"no requests while {what}"
    up = [e["name"] for e in endpoints if e["state"] == "up"]
    down = [e["name"] for e in endpoints if e["state"] == "down"]
    if len(down) == len(endpoints):
        return f"every endpoint failed while {what}"
    if len(up) == len(endpoints):
        return f"every endpoint stayed up while {what}"
    parts = [f"{', '.join(up)} stayed up" if up else "",
             f"{', '.join(down)} went down" if down else "",
             f"{', '.join(e['name'] for e in endpoints if e['state'] == 'degraded')} degraded"
             if len(up) + len(down) < len(endpoints) else ""]
    return "; ".join(p for p in parts if p) + f" while {what}"


def verdict_of(faults: Sequence[FaultResult]) -> tuple[str, list[str]]:
    """("single point of failure" | "fault tolerant" | "not measured", evidence lines)."""
    applied = [f for f in faults if f["event"]["at_s"] is not None and not f["event"]["error"]]
    if not applied:
        return "not measured", ["no fault was applied"]
    total = [f for f in applied if f["everything_down"]]
    evidence = [f"{f['event']['label']}: every endpoint down (availability "
                f"{(f['availability'] or 0.0):.0%})" for f in total]
    contained = [f for f in applied if not f["everything_down"]]
    evidence += [f"{f['event']['label']}: {f['summary']}" for f in contained]
    if total:
        return "single point of failure", evidence
    return "fault tolerant", evidence


def fault_section(inputs: FaultInputs) -> FaultsSection:
    """The ``faults`` section of one target's result (see the module doc for definitions)."""
    requests = _requests(inputs)
    seconds = max(0, int(np.floor(inputs.load_end_s - inputs.load_start_s)))
    series = _per_second(requests, seconds)
    applied = sorted((e for e in inputs.events if e["offset_s"] is not None),
                     key=lambda e: float(e["offset_s"] or 0.0))
    first_fault = float(applied[0]["offset_s"] or 0.0) if applied else float(seconds)
    base_from, base_to = int(np.ceil(inputs.warmup_s)), int(np.floor(first_fault))
    band = band_of(series, base_from, base_to)
    measured = int(np.sum(requests.t >= inputs.warmup_s))
    counts = pd.Series(requests.order_id[requests.order_id != ""]).value_counts()
    run = _Run(inputs=inputs, requests=requests, series=series, in_band=_in_band(series, band),
               seconds=seconds, budget=(1.0 - inputs.objective) * measured if measured else None,
               acknowledged_twice=frozenset(str(i) for i in counts[counts > 1].index))
    results = []
    for position, event in enumerate(applied):
        following = applied[position + 1]["offset_s"] if position + 1 < len(applied) else None
        until = float(seconds) if following is None else float(following) - NEXT_FAULT_GUARD_S
        results.append(_fault(run, event, max(float(event["offset_s"] or 0.0), min(float(seconds), until))))
    verdict, evidence = verdict_of(results)
    placing = (requests.name == ORDER_ENDPOINT) & ~requests.ok
    found = len(counts) - (len(inputs.lost_ids) if inputs.lost_ids is not None else 0)
    return FaultsSection(
        objective=inputs.objective,
        baseline_s=[float(base_from), float(base_to)] if base_to > base_from else None,
        band=band, faults=results + [_unapplied(e) for e in inputs.events if e["offset_s"] is None],
        indeterminate=int((placing & ((requests.status == 0) | (requests.status >= 500))).sum()),
        created_unacknowledged=None if inputs.orders_created is None else max(0, inputs.orders_created - found),
        verdict=verdict, evidence=evidence,  # type: ignore[typeddict-item]
    )


def _unapplied(event: FaultEvent) -> FaultResult:
    """A fault that never happened (the run ended first, or the action failed at once)."""
    return FaultResult(
        event=event, window_s=[], impact_s=[], requests=0, failures=0, availability=None,
        failure_classes={}, endpoints=[], stayed_up=[], went_down=[], everything_down=False,
        time_to_first_failure_s=None, time_to_recover_s=None, error_budget_consumed=None,
        per_second=PerSecond(t_s=[], requests=[], availability=[], p99_ms=[]),
        orders=FaultOrders(acknowledged=0, lost=None, stuck=None, stuck_ids=[], duplicated=0,
                           indeterminate=0, failed=0),
        summary=f"not applied: {event['error'] or 'the load ended first'}",
    )
