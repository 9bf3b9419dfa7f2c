"""Gate evaluation: thresholds and noise-robust regression checks over a run (pure).

Results dicts, parsed thresholds and histograms in; a list of ``Check`` out. No files,
no console: ``harness.gate.formats`` renders the checks, ``harness.gate.command``
loads the inputs and writes the outputs.

Exit codes: 0 every check passed; 1 at least one check failed (a failed check is a
definite answer even when another could not be evaluated); 2 nothing failed but at
least one check could not be evaluated (no samples, too few requests, unknown
endpoint, missing baseline target, an INVALID run, ...) or there was nothing to check.

A target whose run is INVALID (``valid.ok`` false in results.json: interrupted,
generator-bound, too many errors, ...) proves nothing, so every check of that target
is "could not evaluate" with the run's reasons, never a pass or a fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.config import GateConfig, RegressionConfig
from harness.errors import EXIT_COULD_NOT_RUN, EXIT_FAILED, EXIT_OK, BenchError
from harness.gate.baseline import Baseline
from harness.gate.capacity import capacity_regression, judge_capacity_threshold
from harness.gate.faults import judge_fault_threshold
from harness.gate.noise import BIN_RATIO, Comparison, WindowHistograms, compare_quantiles
from harness.gate.thresholds import METRICS, Threshold, format_metric_value, parse_thresholds
from harness.results import Results, TargetResult, integrity_checked

Verdict = Literal["pass", "fail", "error"]
CheckKind = Literal["threshold", "regression", "gate"]
REGRESSION_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
REGRESSION_SEED = 0  # the bootstrap is seeded: the same two runs always give the same verdict
REGRESSION_OP = "<="  # a regression check holds while the change stays within +limit (or the noise)


@dataclass(frozen=True)
class Check:
    """One gate check. ``value``, ``limit`` and ``bound`` are display strings with units.

    ``limit`` is the operator and the bound as the table shows it (``"< 200ms"``,
    ``"+15%"``); ``bound`` is the limit alone (``"200ms"``, ``"+15%"``).
    """

    name: str  # "p95 < 200ms" or "p95 regression"
    scope: str  # "monolith" or "monolith GET /products/{id}"
    value: str  # measured, e.g. "74.54ms", "0.5%", "+3.2%" (regression: change vs baseline)
    limit: str
    verdict: Verdict
    detail: str = ""
    target: str | None = None  # None: the check is about no single target
    endpoint: str | None = None  # None: the target's total
    metric: str = ""  # "p95", "error_rate", "ttf_p99", ...
    op: str = ""  # "<", "<=", ">", ">=", "==" (regression: "<=")
    bound: str = ""
    kind: CheckKind = "threshold"


# -- thresholds -----------------------------------------------------------------------------


def evaluate_thresholds(
    results: Results, thresholds: Sequence[Threshold], *, min_requests: int
) -> list[Check]:
    """One check per threshold and target it applies to (unscoped: every target in the run).

    An unscoped time-to-final threshold (``ttf_p95``) applies to the targets that track
    time to final (event-driven); when none in the run do, it could not be evaluated.
    """
    checks: list[Check] = []
    present = list(results["targets"])
    for threshold in thresholds:
        names = [threshold.target] if threshold.target is not None else present
        if threshold.target is None and threshold.metric.source == "time_to_final":
            names = [n for n in present if results["targets"][n]["integrity"].get("time_to_final")]
            if present and not names:
                checks.append(_error(threshold, None, (
                    f"no target in this run tracks time to final (targets run: {', '.join(present)}); "
                    "only event-driven confirms orders asynchronously"
                )))
                continue
        if threshold.target is None and threshold.metric.source == "faults":
            names = [n for n in present if results["targets"][n].get("faults")] or present
        if not names:
            checks.append(_error(threshold, None, "the run has no targets"))
        for name in names:
            target = results["targets"].get(name)
            if target is None:
                checks.append(_error(threshold, name, (
                    f"target {name!r} is not in this run (targets run: {', '.join(present) or 'none'})"
                )))
                continue
            if threshold.metric.source == "faults" or (threshold.metric.per_fault and threshold.endpoint):
                checks += _fault_checks(threshold, name, target, min_requests)
                continue
            checks.append(_evaluate_one(threshold, name, target, min_requests))
    return checks


def _fault_checks(threshold: Threshold, name: str, target: TargetResult, min_requests: int) -> list[Check]:
    """One check per fault the threshold names (``harness.gate.faults``)."""
    blocker = invalid_reason(name, target) or _too_few(target, min_requests)
    if blocker:
        return [_error(threshold, name, blocker)]
    return [
        Check(threshold.condition, f"{name} {label}".strip(), shown, f"{threshold.op} {threshold.value_text}",
              verdict, detail, target=name, endpoint=label or None, metric=threshold.metric.name,
              op=threshold.op, bound=threshold.value_text)
        for label, verdict, shown, detail in judge_fault_threshold(threshold, name, target)
    ]


def _scope(target: str | None, endpoint: str | None) -> str:
    if target is None:
        return "-"
    return f"{target} {endpoint}" if endpoint else target


def _threshold_check(threshold: Threshold, target: str | None, value: str, verdict: Verdict,
                     detail: str) -> Check:
    return Check(
        threshold.condition, _scope(target, threshold.endpoint), value,
        f"{threshold.op} {threshold.value_text}", verdict, detail, target=target,
        endpoint=threshold.endpoint, metric=threshold.metric.name, op=threshold.op,
        bound=threshold.value_text,
    )


def _error(threshold: Threshold, target: str | None, detail: str) -> Check:
    return _threshold_check(threshold, target, "-", "error", f"could not evaluate: {detail}")


def _too_few(target: TargetResult, min_requests: int) -> str | None:
    requests = int(target["summary"]["requests"])
    if requests < min_requests:
        return (
            f"{requests} requests in the measured window, below gate.min_requests = {min_requests}; "
            "run a longer profile"
        )
    return None


def invalid_reason(name: str, target: TargetResult) -> str | None:
    """Why a target's run proves nothing (``valid.ok`` false), or None when it is valid."""
    validity = target.get("valid") or {"ok": True, "reasons": []}
    if validity.get("ok", True):
        return None
    reasons = "; ".join(str(r) for r in validity.get("reasons") or []) or "no reason recorded"
    return f"the run of {name} is INVALID ({reasons}); fix the cause and run again"


def _evaluate_one(threshold: Threshold, name: str, target: TargetResult, min_requests: int) -> Check:
    blocker = invalid_reason(name, target) or _too_few(target, min_requests)
    if blocker:
        return _error(threshold, name, blocker)
    if threshold.metric.source == "capacity":
        judged, shown, detail = judge_capacity_threshold(threshold, name, target.get("capacity"))
        return _threshold_check(threshold, name, shown, judged, detail)
    value = _measured(threshold, name, target)
    if isinstance(value, str):
        return _error(threshold, name, value)
    metric = threshold.metric
    verdict: Verdict = "pass" if threshold.holds(value) else "fail"
    shown = format_metric_value(metric, value)
    detail = "" if verdict == "pass" else f"{metric.name} is {shown}, needs {threshold.op} {threshold.value_text}"
    if metric.source == "time_to_final":
        detail = _ttf_note(target, detail)
    return _threshold_check(threshold, name, shown, verdict, detail)


def _ttf_note(target: TargetResult, detail: str) -> str:
    ttf: Mapping[str, Any] = target["integrity"].get("time_to_final") or {}
    note = f"over {int(ttf.get('count') or 0)} tracked orders"
    resolution = ttf.get("resolution_ms")
    if resolution is not None:
        note += f", resolution ±{float(resolution):.2g}ms"
    return f"{detail} ({note})" if detail else note


def _measured(threshold: Threshold, name: str, target: TargetResult) -> float | str:
    """The measured value in the metric's canonical unit, or why there is none."""
    metric = threshold.metric
    integrity: Mapping[str, Any] = target.get("integrity") or {}
    if metric.source == "integrity":
        if "integrity" in target and not integrity_checked(target["integrity"]):
            reasons = "; ".join(str(r) for r in integrity.get("reasons") or []) or "no reason recorded"
            return f"the integrity of {name} was not checked ({reasons}), so {metric.name} is unknown"
        if int(integrity.get("acknowledged", 0)) == 0:
            return "no acknowledged orders to check"
        return float(integrity[metric.key])
    if metric.source == "time_to_final":
        ttf = integrity.get("time_to_final")
        if not ttf:
            return (
                f"{name} does not track time to final (only event-driven confirms orders "
                "asynchronously); scope the threshold, e.g. 'event-driven: "
                f"{metric.name} < 500ms'"
            )
        raw = ttf.get(metric.key)
        if not int(ttf.get("count") or 0) or raw is None:
            return f"no tracked order of {name} reached a final status, so no {metric.name}"
        return float(raw)
    stats: Mapping[str, Any] = target["summary"]
    if threshold.endpoint is not None:
        found = {e["name"]: e for e in target["endpoints"]}
        if threshold.endpoint not in found:
            return (
                f"unknown endpoint {threshold.endpoint!r} for {name}; endpoints in this run: "
                + (", ".join(sorted(found)) or "none")
            )
        stats = found[threshold.endpoint]
    raw = stats.get(metric.key)
    if metric.kind != "count" and (int(stats.get("requests") or 0) == 0 or raw is None):
        return f"no samples for {metric.name}"
    if raw is None:
        return f"no value for {metric.name}"
    return float(raw)


# -- regression ------------------------------------------------------------------------------


def check_regression_metrics(metrics: Sequence[str]) -> tuple[float, ...]:
    """Quantiles of ``gate.regression.metrics``; ``BenchError`` naming the valid ones."""
    quantiles = []
    for metric in metrics:
        if metric not in REGRESSION_QUANTILES:
            raise BenchError(
                f"gate.regression.metrics: {metric!r} cannot be regression-tested; valid metrics: "
                + ", ".join(REGRESSION_QUANTILES)
            )
        quantiles.append(REGRESSION_QUANTILES[metric])
    return tuple(quantiles)


def check_regression_limit(limit: float) -> None:
    """Refuse a regression limit that would silently disable the check.

    ``limit`` is a fraction (0.15 = +15 %). ``bench.toml``'s ``limit = "15"`` no longer gets
    here (``harness.units.parse_percent`` refuses a bare number >= 1 at load), but a
    ``GateConfig`` built in code can carry 15.0 (+1500 %), and ``"100%"`` passes the
    config's range: a limit of +100 % or more lets any real regression pass, so it is
    refused as a unit mistake, and a negative one as meaningless.
    """
    if limit < 0 or limit >= 1:
        percent = f"{limit * 100:+g}%"
        raise BenchError(
            f"gate.regression.limit = {limit:g} means {percent}, which "
            + ("no latency can beat" if limit < 0 else "lets any real regression pass")
            + "; a bare number is a fraction of the baseline: write limit = \"15%\" (or 0.15); "
            "valid: 0% <= limit < 100%"
        )


def check_gate_config(gate: GateConfig, thresholds: Sequence[str] | None = None) -> tuple[Threshold, ...]:
    """Validate the gate's configuration before anything runs; return the parsed thresholds.

    ``thresholds`` replaces ``gate.thresholds`` when given. Raises ``BenchError`` (exit 2).
    """
    parsed = parse_thresholds(gate.thresholds if thresholds is None else thresholds)
    check_regression_metrics(gate.regression.metrics)
    check_regression_limit(gate.regression.limit)
    return parsed


def _limit_text(regression: RegressionConfig) -> str:
    return f"+{regression.limit * 100:g}%"


def evaluate_regression(
    results: Results,
    baseline: Baseline,
    current: Mapping[str, WindowHistograms | str],
    regression: RegressionConfig,
    *,
    min_requests: int,
) -> list[Check]:
    """Regression checks per target in the run and metric in ``regression.metrics``.

    ``current`` maps a target to its measured-window histograms, or to the reason
    they could not be read. A target measured by ``bench capacity`` (in this run or the
    baseline) gets one capacity regression check instead (``harness.gate.capacity``):
    its steps ran at rates of their own, so their latencies compare nothing. See
    ``harness.gate.noise`` for the latency method. The verdict and
    the change (``value``) come from the binned histograms, the only thing a baseline
    keeps per window; the detail shows the exact percentiles of both runs (the same
    numbers the threshold rows show) beside the binned change, labelled as such.
    """
    quantiles = check_regression_metrics(regression.metrics)
    checks: list[Check] = []
    for name, target in results["targets"].items():
        base = baseline.targets.get(name)
        if target.get("capacity") or (base is not None and base.capacity):
            checks.append(_capacity_regression_check(results, name, baseline, regression))
            continue
        histograms = current.get(name)
        reason = _regression_blocker(name, target, baseline, histograms, min_requests)
        comparisons: list[Comparison] = []
        if reason is None and base is not None and base.histograms is not None \
                and isinstance(histograms, WindowHistograms):
            try:
                comparisons = compare_quantiles(
                    base.histograms, histograms, quantiles, limit=regression.limit,
                    confidence=regression.confidence, resamples=regression.resamples,
                    seed=REGRESSION_SEED,
                )
            except ValueError as error:  # too few windows or no requests: noise unknown
                reason = str(error)
        if reason is not None or base is None:
            checks += [
                _regression_check(name, metric, regression, "-", "error", f"could not evaluate: {reason}")
                for metric in regression.metrics
            ]
            continue
        note = _environment_note(results, baseline, target, base.backend)
        for metric, comparison in zip(regression.metrics, comparisons, strict=False):
            key = METRICS[metric].key
            exact = (_number(target["summary"], key), _number(base.summary, key))
            checks.append(_regression_row(name, metric, regression, comparison, exact, note))
    return checks


def _capacity_regression_check(results: Results, name: str, baseline: Baseline,
                               regression: RegressionConfig) -> Check:
    target = results["targets"][name]
    base = baseline.targets.get(name)
    invalid = invalid_reason(name, target)
    if base is None or invalid:
        verdict: Verdict = "error"
        change, detail = "-", "could not evaluate: " + (invalid or (
            f"baseline {baseline.name!r} has no target {name!r} (it has: {', '.join(baseline.targets) or 'none'}); "
            "save a baseline from a run that includes it"))
    else:
        verdict, change, detail = capacity_regression(name, target.get("capacity"), base.capacity,
                                                      regression.limit, baseline.name)
        if verdict != "error":
            detail += _environment_note(results, baseline, target, base.backend)
    limit = f"-{regression.limit * 100:g}%"
    return Check("capacity regression", name, change, limit, verdict, detail, target=name, metric="capacity",
                 op=">=", bound=limit, kind="regression")


def _number(stats: Mapping[str, Any], key: str) -> float | None:
    value = stats.get(key)
    return None if value is None else float(value)


def _regression_check(name: str, metric: str, regression: RegressionConfig, value: str,
                      verdict: Verdict, detail: str) -> Check:
    limit = _limit_text(regression)
    return Check(f"{metric} regression", name, value, limit, verdict, detail, target=name,
                 metric=metric, op=REGRESSION_OP, bound=limit, kind="regression")


def _regression_row(name: str, metric: str, regression: RegressionConfig, comparison: Comparison,
                    exact: tuple[float | None, float | None], note: str) -> Check:
    verdict: Verdict = "fail" if comparison.regressed else "pass"
    why = (
        "significant and over the limit" if comparison.regressed
        else "over the limit but within the noise" if comparison.over_limit
        else "significant but within the limit" if comparison.significant
        else "within the limit"
    )
    current, base = exact
    if current is not None and base is not None:
        shown = f"{metric} {format_metric_value(METRICS[metric], current)} vs baseline " \
                f"{format_metric_value(METRICS[metric], base)} (exact)"
    else:  # an old or partial results file: only the binned estimate exists
        shown = f"{metric} ≈{comparison.current_ms:.4g}ms vs baseline ≈{comparison.baseline_ms:.4g}ms (binned)"
    detail = (
        f"{shown}; change {_percent(comparison.ratio)} estimated on {(BIN_RATIO - 1) * 100:g}%-wide "
        f"histogram bins, {comparison.confidence * 100:g}% CI "
        f"{_percent(comparison.low)}..{_percent(comparison.high)}: {why}{note}"
    )
    return _regression_check(name, metric, regression, _percent(comparison.ratio), verdict, detail)


def _regression_blocker(
    name: str, target: TargetResult, baseline: Baseline, histograms: WindowHistograms | str | None,
    min_requests: int,
) -> str | None:
    """Why a target's regression cannot be evaluated, or None when it can."""
    base = baseline.targets.get(name)
    profile = str(target["profile"].get("name", ""))
    if base is None:
        return (
            f"baseline {baseline.name!r} has no target {name!r} (it has: "
            f"{', '.join(baseline.targets) or 'none'}); save a baseline from a run that includes it"
        )
    invalid = invalid_reason(name, target)
    if invalid is not None:
        return invalid
    if base.profile != profile:
        return (
            f"baseline {baseline.name!r} was measured with profile {base.profile!r}, this run with "
            f"{profile!r}; compare runs of the same profile"
        )
    too_few = _too_few(target, min_requests)
    if too_few is not None:
        return too_few
    if base.histograms is None:
        return f"baseline {baseline.name!r} holds no noise histograms for {name!r}"
    if not isinstance(histograms, WindowHistograms):
        return histograms or "no samples for this run"
    return None


def _percent(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def _environment_note(results: Results, baseline: Baseline, target: TargetResult, backend: str) -> str:
    notes = []
    if backend != target["backend"]:
        notes.append(f"baseline backend {backend!r}, this run {target['backend']!r}")
    cpu = results.get("host", {}).get("cpu_model")
    if baseline.host.get("cpu_model") and cpu and baseline.host["cpu_model"] != cpu:
        notes.append("baseline measured on a different CPU")
    return f" (note: {'; '.join(notes)})" if notes else ""


# -- the whole gate --------------------------------------------------------------------------


def nothing_to_check() -> Check:
    """The one check of a gate with no thresholds and no baseline (could not evaluate)."""
    return Check("gate", "-", "-", "-", "error", (
        "could not evaluate: no thresholds and no baseline; set [gate] thresholds in bench.toml, "
        "pass --threshold, or pass --baseline"
    ), kind="gate")


def gate_exit_code(checks: Sequence[Check]) -> int:
    """0 all passed, 1 any failed, 2 none failed but some could not be evaluated (or no checks)."""
    if any(check.verdict == "fail" for check in checks):
        return EXIT_FAILED
    if not checks or any(check.verdict == "error" for check in checks):
        return EXIT_COULD_NOT_RUN
    return EXIT_OK


def gate_outcome(checks: Sequence[Check]) -> str:
    """One word for the whole gate: ``PASS``, ``FAIL`` or ``COULD NOT EVALUATE``."""
    return {EXIT_OK: "PASS", EXIT_FAILED: "FAIL"}.get(gate_exit_code(checks), "COULD NOT EVALUATE")
