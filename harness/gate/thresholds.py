"""Gate thresholds: parse ``"p95 < 200ms"`` into a typed ``Threshold`` (pure, no I/O).

Syntax (one string per threshold, in ``[gate] thresholds`` or ``--threshold``)::

    [SCOPE:] METRIC OP VALUE

    SCOPE   absent or ``*``   every target in the run
            ``TARGET``        one target, e.g. ``monolith``
            ``TARGET ENDPOINT`` one endpoint of a target, e.g. ``monolith GET /products/{id}``
            ``* ENDPOINT``    that endpoint of every target
    METRIC  p50 p90 p95 p99 p99.9 max mean   latency, VALUE needs a unit: us ms s m
            error_rate                       failures / requests: ``1%`` or a fraction below 1
                                             like ``0.01``; a bare ``1`` (100 %) is refused
            rps                              requests per second: ``300`` (``300/s`` and ``300rps`` too)
            requests failures                counts over the measured window
            lost not_final                   integrity counts (per target, not per endpoint)
            ttf_p95 ttf_p99                  event-driven time from acknowledgement to a final
                                             order status (per target; unscoped: every target
                                             that tracks it), VALUE needs a unit
            capacity                         ``bench capacity`` runs: the highest arrival rate
                                             that held the SLO, requests/s (per target)
    OP      <  <=  >  >=  ==

Examples: ``"p95 < 200ms"``, ``"p99.9 < 1s"``, ``"error_rate < 1%"``, ``"rps > 300"``,
``"lost == 0"``, ``"monolith: p95 < 200ms"``, ``"monolith GET /products/{id}: p95 < 100ms"``,
``"event-driven: ttf_p99 < 500ms"``, ``"capacity > 400"``.

Faults (profiles with ``faults``; ``harness.gate.faults``): ``availability`` (fraction),
``recovery_s`` (latency units) and ``lost`` take a FAULT scope in place of the endpoint:
``"monolith postgres: recovery_s < 10s"``, ``"* kill catalog: availability > 50%"``,
``"microservices kill orders: lost == 0"``; unscoped, one check per fault of every target.

A threshold says what must hold: ``p95 < 200ms`` passes when the measured p95 is
below 200 ms and fails at exactly 200 ms. Limits are stored in canonical units:
milliseconds for latency, a fraction 0..1 for error_rate, requests/s for rps; they are
shown with their unit (``200ms``, ``1%``, ``300/s``). A bare number where a fraction is
meant must be below 1, so ``error_rate < 1`` (100 %: a gate that cannot fail) is refused
with the fix ``error_rate < 1%``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from harness.config import TARGET_NAMES
from harness.errors import BenchError

MetricKind = Literal["latency", "fraction", "rate", "count"]
MetricSource = Literal["stats", "integrity", "time_to_final", "faults", "capacity"]


@dataclass(frozen=True)
class Metric:
    """A metric a threshold can name: where its value lives in results.json and its kind."""

    name: str  # as written in a threshold, e.g. "p99.9"
    key: str  # LatencyStats / Integrity / TimeToFinal key, e.g. "p99_9_ms" or "lost"
    kind: MetricKind
    per_endpoint: bool = True  # False: only defined for a whole target (integrity counts)
    source: MetricSource = "stats"  # summary/endpoint stats, integrity, integrity.time_to_final, capacity
    per_fault: bool = False  # a FAULT scope ("monolith kill postgres: ...") picks faults (harness.gate.faults)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("p50", "p50_ms", "latency"),
        Metric("p90", "p90_ms", "latency"),
        Metric("p95", "p95_ms", "latency"),
        Metric("p99", "p99_ms", "latency"),
        Metric("p99.9", "p99_9_ms", "latency"),
        Metric("max", "max_ms", "latency"),
        Metric("mean", "mean_ms", "latency"),
        Metric("error_rate", "error_rate", "fraction"),
        Metric("rps", "rps", "rate"),
        Metric("requests", "requests", "count"),
        Metric("failures", "failures", "count"),
        Metric("lost", "lost", "count", per_endpoint=False, source="integrity", per_fault=True),
        Metric("not_final", "not_final", "count", per_endpoint=False, source="integrity"),
        Metric("ttf_p95", "p95_ms", "latency", per_endpoint=False, source="time_to_final"),
        Metric("ttf_p99", "p99_ms", "latency", per_endpoint=False, source="time_to_final"),
        Metric("capacity", "capacity_rps", "rate", per_endpoint=False, source="capacity"),
        Metric("availability", "availability", "fraction", per_endpoint=False, source="faults", per_fault=True),
        Metric("recovery_s", "time_to_recover_s", "latency", per_endpoint=False, source="faults",
               per_fault=True),
    )
}
_ALIASES = {"p99_9": "p99.9", "p999": "p99.9", "errors": "error_rate"}

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
LATENCY_UNITS_MS = {"us": Decimal("0.001"), "µs": Decimal("0.001"), "ms": Decimal(1),
                    "s": Decimal(1000), "m": Decimal(60000)}
ALL_TARGETS = "*"

SYNTAX = (
    "syntax: [TARGET [ENDPOINT]:] METRIC OP VALUE, e.g. 'p95 < 200ms', 'error_rate < 1%', "
    "'rps > 300', 'lost == 0', 'capacity > 400', 'monolith GET /products/{id}: p95 < 100ms'"
)
_VALID_METRICS = "valid metrics: " + ", ".join(METRICS)
_VALID_OPERATORS = "valid operators: " + ", ".join(OPERATORS)
_VALID_UNITS = (
    "latency units: us, ms, s, m; error_rate: '1%' or a fraction below 1 like 0.01; "
    "rps, capacity and counts: a number"
)
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SPLIT = re.compile(r"^(?P<metric>[^<>=!]*)(?P<op>[<>=!]+)?(?P<value>.*)$", re.DOTALL)
_LATENCY = re.compile(rf"^(?P<number>{_NUMBER})\s*(?P<unit>[a-zµ]*)$", re.IGNORECASE)
_FRACTION = re.compile(rf"^(?P<number>{_NUMBER})\s*(?P<percent>%?)$")
_RATE = re.compile(rf"^(?P<number>{_NUMBER})\s*(?:/s|rps|req/s)?$", re.IGNORECASE)
_COUNT = re.compile(r"^(?P<number>\d+)$")
_ENDPOINT = re.compile(r"^[A-Z]+\s+/")  # "GET /products": an endpoint scope, not a fault's


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold. ``target`` None means every target; ``endpoint`` None the total."""

    expression: str  # as the user wrote it
    metric: Metric
    op: str  # one of OPERATORS
    limit: float  # canonical unit: ms (latency), fraction (error_rate), req/s (rps), count
    value_text: str  # the limit with its unit, e.g. "200ms", "2%" (for 0.02), "300/s"
    target: str | None = None
    endpoint: str | None = None

    @property
    def condition(self) -> str:
        """The unscoped condition as written, normalised: ``"p95 < 200ms"``."""
        return f"{self.metric.name} {self.op} {self.value_text}"

    def holds(self, value: float) -> bool:
        """True when ``value`` (canonical unit) satisfies the threshold."""
        return OPERATORS[self.op](value, self.limit)


def _fail(expression: str, problem: str, valid: str) -> BenchError:
    return BenchError(f"threshold {expression!r}: {problem}; {valid}; {SYNTAX}")


def parse_threshold(expression: str) -> Threshold:
    """Parse one threshold expression; raise ``BenchError`` (exit 2) naming the bad part."""
    if not isinstance(expression, str) or not expression.strip():
        raise _fail(str(expression), "empty threshold", _VALID_METRICS)
    text = expression.strip()
    target: str | None = None
    endpoint: str | None = None
    body = text
    if ":" in text:
        scope, _, body = text.rpartition(":")
        target, endpoint = _parse_scope(expression, scope)
    match = _SPLIT.match(body.strip())
    assert match is not None  # the pattern matches every string
    metric_text = match.group("metric").strip()
    op = match.group("op")
    value_text = match.group("value").strip()
    if not metric_text:
        raise _fail(expression, "missing metric before the operator", _VALID_METRICS)
    if op is None:
        first = metric_text.split()[0]
        if _lookup_metric(first) is not None:
            raise _fail(expression, f"missing operator after {first!r}", _VALID_OPERATORS)
        raise _fail(expression, f"unknown metric {first!r} and no operator", _VALID_METRICS)
    metric = _lookup_metric(metric_text)
    if metric is None:
        raise _fail(expression, f"unknown metric {metric_text!r}", _VALID_METRICS)
    if op not in OPERATORS:
        hint = " ('=' compares nothing: write '==')" if op == "=" else ""
        raise _fail(expression, f"unknown operator {op!r}{hint}", _VALID_OPERATORS)
    if not value_text:
        raise _fail(expression, f"missing value after {op!r}", _VALID_UNITS)
    if endpoint is not None and not metric.per_endpoint and not (metric.per_fault and not _ENDPOINT.match(endpoint)):
        raise _fail(
            expression,
            f"{metric.name!r} is a per-target metric, it has no per-endpoint value "
            f"(scope {endpoint!r})",
            "per-endpoint metrics: " + ", ".join(m.name for m in METRICS.values() if m.per_endpoint),
        )
    limit, shown = _parse_value(expression, metric, value_text)
    return Threshold(expression, metric, op, limit, shown, target, endpoint)


def _lookup_metric(text: str) -> Metric | None:
    name = text.lower()
    return METRICS.get(_ALIASES.get(name, name))


def parse_thresholds(expressions: Iterable[str]) -> tuple[Threshold, ...]:
    """Parse every expression (the first bad one raises ``BenchError``)."""
    return tuple(parse_threshold(expression) for expression in expressions)


def _parse_scope(expression: str, scope: str) -> tuple[str | None, str | None]:
    parts = scope.strip().split(None, 1)
    if not parts:
        raise _fail(
            expression, "empty scope before ':'",
            "valid scopes: *, " + ", ".join(TARGET_NAMES) + ", or 'TARGET ENDPOINT'",
        )
    target_text = parts[0]
    endpoint = parts[1].strip() if len(parts) > 1 else None
    if target_text == ALL_TARGETS:
        return None, endpoint
    if target_text not in TARGET_NAMES:
        raise _fail(
            expression, f"unknown target {target_text!r}",
            "valid targets: " + ", ".join(TARGET_NAMES) + " (or * for every target)",
        )
    return target_text, endpoint


def _number(expression: str, metric: Metric, text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regexes only pass numbers
        raise _fail(expression, f"{text!r} is not a number", _VALID_UNITS) from None


def _parse_value(expression: str, metric: Metric, text: str) -> tuple[float, str]:
    """Return (limit in the canonical unit, the value as shown in tables)."""
    if metric.kind == "latency":
        match = _LATENCY.match(text)
        if not match:
            raise _fail(
                expression, f"{text!r} is not a latency",
                "write a number and a unit, e.g. '200ms' or '1.5s'; latency units: us, ms, s, m",
            )
        unit = match.group("unit").lower()
        if not unit:
            raise _fail(
                expression, f"latency {text!r} has no unit",
                "latency units: us, ms, s, m (e.g. '200ms')",
            )
        if unit not in LATENCY_UNITS_MS:
            raise _fail(
                expression, f"unknown latency unit {match.group('unit')!r}",
                "latency units: us, ms, s, m",
            )
        number = _number(expression, metric, match.group("number"))
        return float(number * LATENCY_UNITS_MS[unit]), f"{match.group('number')}{unit}"
    if metric.kind == "fraction":
        match = _FRACTION.match(text)
        if not match:
            raise _fail(
                expression, f"{text!r} is not a rate",
                f"{metric.name} is a percentage like '1%' or a fraction 0..1 like 0.01",
            )
        return _parse_fraction(expression, metric, text, match)
    if metric.kind == "rate":
        match = _RATE.match(text)
        if not match:
            raise _fail(
                expression, f"{text!r} is not a request rate",
                f"{metric.name} is requests per second, a number like 300 (or '300/s')",
            )
        number = _number(expression, metric, match.group("number"))
        return float(number), f"{match.group('number')}/s"
    match = _COUNT.match(text)
    if not match:
        raise _fail(
            expression, f"{text!r} is not a count",
            f"{metric.name} is a count, a whole number >= 0 like 0",
        )
    return float(int(match.group("number"))), match.group("number")


def _parse_fraction(expression: str, metric: Metric, text: str, match: re.Match[str]) -> tuple[float, str]:
    """A percentage (``1%``) or a bare fraction below 1 (``0.01``); a bare ``1`` or more is refused.

    A bare number >= 1 is almost always a percentage without its ``%`` (``error_rate < 1``
    would mean 100 %, a gate that never fails), so it is refused with the fix.
    """
    number = _number(expression, metric, match.group("number"))
    written = match.group("number")
    valid = (
        f"write '{written}%' for {written} percent, or a fraction below 1 like 0.01; "
        f"{metric.name} is a percentage 0..100% or a fraction 0..1"
    )
    if match.group("percent"):
        if number > 100:
            raise _fail(expression, f"{text!r} is over 100%", f"{metric.name} is a percentage 0..100% or a fraction 0..1")
        return float(number / 100), f"{written}%"
    if number > 1:
        raise _fail(expression, f"{text!r} is over 100% as a fraction ({written} = {_percent_text(number)})", valid)
    if number == 1:
        raise _fail(
            expression, f"{text!r} is a bare number, read as the fraction 1 = 100%, so the check could never fail",
            valid,
        )
    return float(number), _percent_text(number)


def _percent_text(fraction: Decimal) -> str:
    """``Decimal("0.02")`` -> ``"2%"`` (exact, no float noise)."""
    return f"{format((fraction * 100).normalize(), 'f')}%"


def format_metric_value(metric: Metric, value: float | None) -> str:
    """A measured value in the metric's display unit: ``"212.4ms"``, ``"0.52%"``, ``"312.0/s"``."""
    if value is None:
        return "-"
    if metric.kind == "latency":
        return f"{value / 1000:.3g}s" if value >= 10_000 else f"{value:.4g}ms"
    if metric.kind == "fraction":
        return f"{value * 100:.3g}%"
    if metric.kind == "rate":
        return f"{value:.1f}/s"
    return str(int(value))
