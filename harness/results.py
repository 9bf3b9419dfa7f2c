"""results.json: the one file every report and gate reads.

Format history (``schema``):
- ``archbench/results@1`` (2026-11): first version. Later additions, all optional so older
  files still load: ``integrity.checked`` (false: "not checked", with ``found``/``lost``/
  ``not_final`` null).
- ``archbench/results@2`` (2026-12): open-model load and capacity. ``profile.model``
  ("closed" / "open"), ``service_*`` latencies, ``dropped`` and send lag in open-model
  summaries, ``generator.cpu_p90_pct`` / ``generator.schedule``, and a per-target
  ``capacity`` section (``bench capacity``). A v1 file is upgraded on load
  (``upgrade_to_2``): its profiles are closed-model, latency measured from the send.
  Later additions, all optional: a per-target ``faults`` section (a profile's fault
  schedule: each fault as injected, availability during it, time to recover, orders
  lost / stuck / indeterminate per fault window; ``harness.resilience``), and
  ``integrity.lost_ids`` / ``integrity.not_final_ids`` (which orders).

A run directory looks like::

    reports/<run-id>/
        results.json              this schema
        <target>/samples.parquet  raw samples (see SAMPLE_COLUMNS), zstd-compressed
        <target>/timeseries.csv   1-second series (see TIMESERIES_COLUMNS)
        <target>/endpoints.csv    the per-endpoint table
        <target>/resources.csv    resource readings (see RESOURCE_COLUMNS)
        index.html, summary.md    reports (rebuilt by ``bench report``)

All paths inside results.json are relative to the run directory. Units are in
the key names: ``_ms`` milliseconds, ``_s`` seconds, ``_bytes`` bytes,
``_pct`` percent of one CPU (100 = one core busy), ``_usd`` US dollars.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from harness.errors import BenchError

SCHEMA = "archbench/results@2"
SCHEMA_V1 = "archbench/results@1"
RESULTS_FILE = "results.json"

# Raw samples, one row per request (written by scenarios/hook.py, merged by the runner):
SAMPLE_COLUMNS = (
    "start_s",  # float64: request start, seconds since the epoch
    "latency_ms",  # float64: response time
    "name",  # str: endpoint name, e.g. "GET /products/{id}"
    "status",  # int32: HTTP status, 0 when no response (connection error, timeout)
    "ok",  # bool: counted as success
    "bytes",  # int64: response body length
    "error",  # str: "" or the failure class: "connection", "timeout", "4xx", "5xx", "other"
    "order_id",  # str: id of an acknowledged order (201/202 on POST /orders), else ""
    "user",  # str: username that placed the order, else ""
    "intended_s",  # float64: open model: when the schedule meant it to start (epoch s); else NaN
)
TIMESERIES_COLUMNS = (
    "t_s", "requests", "failures", "rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "users",
)
RESOURCE_COLUMNS = ("t_s", "name", "cpu_seconds", "cpu_pct", "rss_bytes")

FailureClass = Literal["connection", "timeout", "4xx", "5xx", "other"]


class LatencyStats(TypedDict):
    """Totals or one endpoint, over the measured window (warm-up excluded)."""

    name: str  # "total" or the endpoint name
    requests: int
    failures: int
    error_rate: float  # failures / requests, 0..1
    rps: float  # successful + failed requests per second
    mean_ms: float | None  # None when there are no requests
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p99_9_ms: float | None
    max_ms: float | None
    failure_classes: dict[str, int]  # FailureClass -> count
    # Open-model runs only: the figures above are response times from the intended start
    # (coordinated-omission corrected); service_* are the same from the actual send.
    service_mean_ms: NotRequired[float | None]
    service_p50_ms: NotRequired[float | None]
    service_p90_ms: NotRequired[float | None]
    service_p95_ms: NotRequired[float | None]
    service_p99_ms: NotRequired[float | None]
    service_p99_9_ms: NotRequired[float | None]
    service_max_ms: NotRequired[float | None]
    dropped: NotRequired[int]  # totals only: arrivals never sent (every in-flight slot busy)
    send_lag_p99_ms: NotRequired[float | None]  # totals only: actual send - intended start
    send_lag_max_ms: NotRequired[float | None]


class ServiceInfo(TypedDict):
    name: str
    role: Literal["service", "infra"]
    cpus: float
    memory_mb: int
    workers: int


class ServiceResources(TypedDict):
    name: str
    cpu_seconds: float
    cpu_mean_pct: float
    cpu_peak_pct: float
    rss_peak_bytes: int


class GeneratorInfo(TypedDict):
    cpus: str  # cpuset
    processes: int
    cpu_mean_pct: float | None
    cpu_peak_pct: float | None
    bound: bool
    reason: str | None
    cpu_p90_pct: NotRequired[float | None]  # 90th percentile of its per-second CPU
    # open model: how late the generator's scheduler dispatched arrivals (its own lag)
    schedule: NotRequired[dict[str, float]]  # arrivals, lag_p99_ms, lag_max_ms, late_10ms
    # distributed generator (``[generator] workers``): one entry per worker process, with its
    # clock offset against the master (s), request share and CPU (harness.distributed.WorkerInfo)
    workers: NotRequired[list[dict[str, Any]]]


class TimeToFinal(TypedDict):
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    resolution_ms: NotRequired[float | None]  # median gap between the last non-final look and the final one


class Integrity(TypedDict):
    """The reconciliation of acknowledged orders.

    ``checked`` false (interrupted run, or no order acknowledged): nothing was reconciled,
    so ``found``, ``lost`` and ``not_final`` are None ("unchecked", not 0), ``ok`` is false
    and ``reasons`` says why ("not checked: ..."); ``acknowledged`` still counts what the
    samples show. Files written before ``checked`` existed were always checked.
    """

    acknowledged: int  # orders acknowledged (201/202) according to the samples
    found: int | None  # None: not checked
    lost: int | None
    final: dict[str, int]  # status -> count among found orders ("confirmed", "rejected", "pending")
    not_final: int | None  # found but still pending when the bounded wait ended
    time_to_final: TimeToFinal | None  # event-driven only
    stats: dict[str, Any]  # the target's GET /stats answer after load
    ok: bool
    reasons: list[str]
    checked: NotRequired[bool]  # absent in older files: true
    lost_ids: NotRequired[list[str]]  # the lost orders (at most MAX_IDS)
    not_final_ids: NotRequired[list[str]]  # orders still pending after the bounded wait (at most MAX_IDS)
    notes: NotRequired[list[str]]  # what holds but is worth saying (e.g. units held by open reservations)


def integrity_checked(integrity: Integrity) -> bool:
    """Whether ``integrity`` reconciled anything (files without the key: yes)."""
    return bool(integrity.get("checked", True))


class Validity(TypedDict):
    ok: bool
    reasons: list[str]


class SloCheckRecord(TypedDict):
    condition: str  # e.g. "p99 < 200ms"
    measured: float  # canonical unit: ms, or a fraction for error_rate
    low: float  # bootstrap interval of the estimate
    high: float
    verdict: Literal["holds", "breaks", "unclear"]


class CapacityStep(TypedDict):
    """One step of a capacity search: open-model load at ``offered_rps``."""

    offered_rps: float
    achieved_rps: float
    requests: int
    error_rate: float
    dropped: int  # arrivals never sent (counted as failures by the SLO)
    p50_ms: float | None  # response time, from the intended start
    p99_ms: float | None
    service_p50_ms: float | None  # service time, from the actual send
    service_p99_ms: float | None
    verdict: Literal["holds", "breaks", "unclear"]
    checks: list[SloCheckRecord]
    generator: GeneratorInfo
    services: list[ServiceResources]
    limited_by: str  # "generator", or the busiest service with its CPU


class CapacityResult(TypedDict):
    """The highest open-model arrival rate that held the SLO (``bench capacity``)."""

    slo: list[str]
    kind: Literal["bracketed", "at_least", "below_lowest"]
    capacity_rps: float | None  # highest offered rate that held
    low_rps: float | None  # the knee lies in [low_rps, high_rps]
    high_rps: float | None
    generator_limited: bool
    reason: str
    description: str  # e.g. "420/s (knee between 420 and 460/s)"
    latency_from: str  # which start the latencies are measured from
    p99_at_capacity_ms: float | None
    limited_by: str  # at the first step that broke (or the last that held)
    steps: list[CapacityStep]


class FaultRestart(TypedDict):
    """A restart the backend's policy made of the faulted instance (epoch seconds)."""

    down_s: float
    healthy_s: float | None  # None: it did not come back healthy
    error: str


class FaultEvent(TypedDict):
    """One fault as the scheduler injected it."""

    action: str  # "kill", "pause", "restart"
    instance: str  # e.g. "catalog", "postgres"
    label: str  # e.g. "kill catalog", "pause postgres 2s"
    planned_s: float  # seconds since load start the profile asked for
    at_s: float | None  # epoch seconds it was applied (None: never applied)
    offset_s: float | None  # at_s - load start (s)
    end_s: float | None  # epoch s it was over: resumed (pause), healthy again (kill, restart)
    duration_s: float | None  # pause: planned seconds frozen
    restarts: list[FaultRestart]  # the restart policy's restarts of this instance after the fault
    error: str  # why the action failed, when it did


class EndpointDuring(TypedDict):
    """One endpoint during a fault window."""

    name: str
    requests: int  # intended to start in the window (dropped arrivals included)
    failures: int
    availability: float | None  # successful share, 0..1 (None: no requests)
    failure_classes: dict[str, int]  # FailureClass or "dropped" -> count
    state: Literal["up", "degraded", "down"]  # >= 99 %, between, < 50 % available


class FaultOrders(TypedDict):
    """Orders around one fault (Jepsen's accounting: ok / indeterminate / lost)."""

    acknowledged: int  # 201/202 answers in the impact window (ok)
    lost: int | None  # acknowledged, never found (None: integrity not checked)
    stuck: int | None  # acknowledged, still pending after the bounded wait
    stuck_ids: list[str]
    duplicated: int  # one order id acknowledged twice
    indeterminate: int  # POST /orders without an answer (timeout, connection, 5xx): may exist
    failed: int  # POST /orders refused (4xx): did not happen


class PerSecond(TypedDict):
    """Seconds since load start around a fault, with availability and p99 of each."""

    t_s: list[int]
    requests: list[int]
    availability: list[float | None]
    p99_ms: list[float | None]


class FaultResult(TypedDict):
    """What one fault did (``harness.resilience``)."""

    event: FaultEvent
    window_s: list[float]  # [from, to): the fault itself, seconds since load start
    impact_s: list[float]  # [from, to): until recovered (or the next fault / the end)
    requests: int
    failures: int
    availability: float | None  # during window_s
    failure_classes: dict[str, int]
    endpoints: list[EndpointDuring]
    stayed_up: list[str]  # endpoints >= 99 % available during the fault
    went_down: list[str]  # endpoints < 50 % available
    everything_down: bool  # every endpoint with requests went down
    time_to_first_failure_s: float | None  # from the fault to the first failed answer
    time_to_recover_s: float | None  # from the fault to the second from which error rate and p99 stay in band
    error_budget_consumed: float | None  # failures in impact_s / the run's error budget (1 = all of it)
    per_second: PerSecond
    orders: FaultOrders
    summary: str  # one sentence, e.g. "GET /products stayed up while catalog was down"


class FaultsSection(TypedDict):
    """A profile's fault schedule and what each fault did to one target."""

    objective: float  # availability objective the error budget is taken from (0.999)
    baseline_s: list[float] | None  # [from, to): the healthy seconds the band comes from
    band: dict[str, float | None]  # error_rate and p99_ms ceilings of a recovered second
    faults: list[FaultResult]
    indeterminate: int  # POST /orders without an answer over the run
    created_unacknowledged: int | None  # orders in the store no acknowledgement explains
    verdict: Literal["single point of failure", "fault tolerant", "not measured"]
    evidence: list[str]


class CacheStats(TypedDict):
    """Product reads of a target with a cache (``*-redis``), from ``GET /stats`` ``cache``:
    the counts of the load (after seeding), warm-up included."""

    kind: str  # "redis"
    hits: int  # reads answered without the database
    misses: int  # reads the database answered (then cached)
    bypassed: int  # reads sent to the database because the cache failed (an outage)
    hit_ratio: float | None  # hits / (hits + misses + bypassed); None without reads


class TargetResult(TypedDict):
    target: str
    backend: str  # "local", "docker" or "external" (bench run --url)
    url: str
    services: list[ServiceInfo]
    cpu_budget: dict[str, str]  # {"target_cpus": "1", "generator_cpus": "0"}
    profile: dict[str, Any]  # resolved profile: name, warmup_s, duration_s, stages, rate
    started_at: str  # ISO 8601 UTC
    duration_s: float  # measured window length (warm-up excluded)
    summary: LatencyStats
    endpoints: list[LatencyStats]
    timeseries: str  # relative path of the 1-second CSV
    endpoints_csv: str
    samples: str  # relative path of samples.parquet
    resources: NotRequired[dict[str, Any]]  # {"csv": path, "services": [ServiceResources]}
    generator: GeneratorInfo
    integrity: Integrity
    cost: NotRequired[dict[str, Any]]  # harness.pricing.cost output
    claims: NotRequired[list[dict[str, Any]]]  # harness.pricing.claims output
    valid: Validity
    capacity: NotRequired[CapacityResult]  # `bench capacity` runs: the search and every step
    sweep_point: NotRequired[dict[str, Any]]  # `bench sweep`: {"target", "cpus", "replicas", "cpuset"}
    faults: NotRequired[FaultsSection]  # profiles with a fault schedule
    cache: NotRequired[CacheStats]  # targets that cache product reads (monolith-redis, ...)
    timings: NotRequired[dict[str, float]]  # wall seconds per phase: up_s, seed_s, load_s, analysis_s, integrity_s, down_s


class Results(TypedDict):
    schema: str
    run_id: str
    started_at: str
    finished_at: str | None
    host: dict[str, Any]  # cpu_model, cores, memory_bytes, os, python, docker
    config: dict[str, Any]  # resolved configuration (harness.config.config_to_dict)
    targets: dict[str, TargetResult]


def schema_problems(data: Any, kind: Any = None, where: str = "results") -> list[str]:
    """Where ``data`` departs from the TypedDicts above (missing/unknown keys, wrong types).

    Checks required keys, rejects keys a TypedDict does not declare, and checks plain
    types (int/float/str/bool/list/dict, ``| None``, nested TypedDicts). Empty: conforms.
    """
    import types
    import typing

    kind = Results if kind is None else kind
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return []
        options = [a for a in args if a is not type(None)]
        found = [schema_problems(data, option, where) for option in options]
        return [] if any(not f for f in found) else found[0]
    if origin is typing.NotRequired or origin is typing.Required:
        return schema_problems(data, args[0], where)
    if origin is Literal:
        return [] if data in args else [f"{where}: {data!r} is not one of {args}"]
    if kind is Any:
        return []
    if isinstance(kind, type) and issubclass(kind, dict) and hasattr(kind, "__required_keys__"):
        if not isinstance(data, dict):
            return [f"{where}: expected an object, got {type(data).__name__}"]
        hints = typing.get_type_hints(kind, include_extras=True)
        # (__required_keys__ misses NotRequired under postponed annotations on 3.11)
        required = [k for k, h in hints.items() if typing.get_origin(h) is not typing.NotRequired]
        problems = [f"{where}: missing key {key!r}" for key in required if key not in data]
        problems += [f"{where}: unknown key {key!r}" for key in sorted(set(data) - set(hints))]
        for key, value in data.items():
            if key in hints:
                problems += schema_problems(value, hints[key], f"{where}.{key}")
        return problems
    if origin is list:
        if not isinstance(data, list):
            return [f"{where}: expected a list, got {type(data).__name__}"]
        return [p for i, item in enumerate(data) for p in schema_problems(item, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(data, dict):
            return [f"{where}: expected an object, got {type(data).__name__}"]
        return [p for k, v in data.items() for p in schema_problems(v, args[1], f"{where}.{k}")]
    if kind is float:
        ok = isinstance(data, (int, float)) and not isinstance(data, bool)
    elif kind is int:
        ok = isinstance(data, int) and not isinstance(data, bool)
    else:
        ok = isinstance(data, kind)
    return [] if ok else [f"{where}: expected {getattr(kind, '__name__', kind)}, got {data!r}"]


def dump_results(results: Results, run_dir: Path) -> Path:
    """Write ``run_dir/results.json`` atomically (temp file + rename); return its path."""
    path = run_dir / RESULTS_FILE
    write_atomic(path, json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    return path


def load_results(run_dir: Path | str) -> Results:
    """Read a run directory's (or a results.json file's) results; refuse unknown schemas."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / RESULTS_FILE
    data = read_versioned_json(
        path,
        (SCHEMA, SCHEMA_V1),
        label=str(path),
        missing=f"{path} not found; give a run directory written by `bench run`",
        broken="; the run was probably cut short",
        fix="re-run `bench run` or upgrade archbench",
    )
    return upgrade_to_2(data) if data["schema"] == SCHEMA_V1 else data  # type: ignore[return-value]


def upgrade_to_2(data: dict[str, Any]) -> Results:
    """A v1 results dict as v2 (in memory; the file is left as it is).

    v1 knew only closed-model load: latencies were measured from the actual send.
    """
    upgraded = json.loads(json.dumps(data))  # a deep copy: callers keep what they passed
    upgraded["schema"] = SCHEMA
    for target in upgraded.get("targets", {}).values():
        profile = target.get("profile")
        if isinstance(profile, dict):
            profile.setdefault("model", "closed")
    return upgraded


def read_versioned_json(
    path: Path, schema: str | tuple[str, ...], *, label: str, missing: str, broken: str = "", fix: str
) -> dict[str, Any]:
    """Read a JSON object whose ``schema`` is ``schema`` (or one of them); else a BenchError with the fix.

    ``label`` names the file in messages, ``missing`` is the whole message for an absent
    file, ``broken`` is appended to the invalid-JSON message, ``fix`` to the schema one.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(missing) from None
    except json.JSONDecodeError as error:
        raise BenchError(f"{label}: not valid JSON ({error}){broken}") from None
    found = data.get("schema") if isinstance(data, dict) else None
    accepted = (schema,) if isinstance(schema, str) else schema
    if found not in accepted:
        readable = " or ".join(repr(item) for item in accepted)
        raise BenchError(
            f"{label}: schema {found!r} is not supported (this archbench reads {readable}); {fix}"
        )
    return data


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates 0600; reports are meant to be shared, so honour the umask instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
