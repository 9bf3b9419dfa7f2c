"""``bench gate``: thresholds and noise-robust regression checks over a run -> exit code.

Evaluation is pure (results dicts, parsed thresholds, histograms in; ``Check`` list
out); ``gate_run`` is the only function that touches files and the console.

Exit codes: 0 every check passed; 1 at least one check failed (a failed check is a
definite answer even when another could not be evaluated); 2 nothing failed but at
least one check could not be evaluated (no samples, too few requests, unknown
endpoint, missing baseline target, ...) or there was nothing to check.
"""

from __future__ import annotations

import html
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.baseline import Baseline, load_baseline, read_histograms, resolve_baseline
from harness.config import Config, RegressionConfig
from harness.errors import EXIT_COULD_NOT_RUN, EXIT_FAILED, EXIT_OK, BenchError
from harness.noise import WindowHistograms, compare_quantiles
from harness.results import Results, TargetResult, load_results, write_atomic
from harness.thresholds import Threshold, format_metric_value, parse_thresholds

Verdict = Literal["pass", "fail", "error"]
REGRESSION_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
REGRESSION_SEED = 0  # the bootstrap is seeded: the same two runs always give the same verdict
_STYLE = {"pass": "green", "fail": "bold red", "error": "yellow"}


@dataclass(frozen=True)
class Check:
    """One gate check. ``value`` and ``limit`` are display strings with units."""

    name: str  # "p95 < 200ms" or "p95 regression"
    scope: str  # "monolith" or "monolith GET /products/{id}"
    value: str
    limit: str
    verdict: Verdict
    detail: str = ""


# -- evaluation (pure) ---------------------------------------------------------------------


def evaluate_thresholds(
    results: Results, thresholds: Sequence[Threshold], *, min_requests: int
) -> list[Check]:
    """One check per threshold and target it applies to (unscoped: every target in the run)."""
    checks: list[Check] = []
    present = list(results["targets"])
    for threshold in thresholds:
        names = [threshold.target] if threshold.target is not None else present
        if not names:
            checks.append(_error(threshold, "-", "the run has no targets"))
        for name in names:
            target = results["targets"].get(name)
            if target is None:
                scope = _scope(name, threshold.endpoint)
                checks.append(_error(threshold, scope, (
                    f"target {name!r} is not in this run (targets run: {', '.join(present) or 'none'})"
                )))
                continue
            checks.append(_evaluate_one(threshold, name, target, min_requests))
    return checks


def _scope(target: str, endpoint: str | None) -> str:
    return f"{target} {endpoint}" if endpoint else target


def _error(threshold: Threshold, scope: str, detail: str) -> Check:
    limit = f"{threshold.op} {threshold.value_text}"
    return Check(threshold.condition, scope, "-", limit, "error", f"could not evaluate: {detail}")


def _too_few(target: TargetResult, min_requests: int) -> str | None:
    requests = int(target["summary"]["requests"])
    if requests < min_requests:
        return (
            f"{requests} requests in the measured window, below gate.min_requests = {min_requests}; "
            "run a longer profile"
        )
    return None


def _evaluate_one(threshold: Threshold, name: str, target: TargetResult, min_requests: int) -> Check:
    scope = _scope(name, threshold.endpoint)
    metric = threshold.metric
    too_few = _too_few(target, min_requests)
    if too_few:
        return _error(threshold, scope, too_few)
    value: float | None
    if metric.key in ("lost", "not_final"):
        integrity = target.get("integrity")
        if not integrity or int(integrity.get("acknowledged", 0)) == 0:
            return _error(threshold, scope, "no acknowledged orders to check")
        value = float(integrity[metric.key])  # type: ignore[literal-required]
    else:
        if threshold.endpoint is None:
            stats: Mapping[str, Any] = target["summary"]
        else:
            found = {e["name"]: e for e in target["endpoints"]}
            if threshold.endpoint not in found:
                return _error(threshold, scope, (
                    f"unknown endpoint {threshold.endpoint!r} for {name}; endpoints in this run: "
                    + (", ".join(sorted(found)) or "none")
                ))
            stats = found[threshold.endpoint]
        raw = stats.get(metric.key)
        if metric.kind != "count" and (int(stats.get("requests") or 0) == 0 or raw is None):
            return _error(threshold, scope, f"no samples for {metric.name}")
        value = float(raw) if raw is not None else None
    if value is None:
        return _error(threshold, scope, f"no value for {metric.name}")
    verdict: Verdict = "pass" if threshold.holds(value) else "fail"
    limit = f"{threshold.op} {threshold.value_text}"
    shown = format_metric_value(metric, value)
    detail = "" if verdict == "pass" else f"{metric.name} is {shown}, needs {limit}"
    return Check(threshold.condition, scope, shown, limit, verdict, detail)


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
    they could not be read. See ``harness.noise`` for the method.
    """
    quantiles = check_regression_metrics(regression.metrics)
    limit_text = f"+{regression.limit * 100:g}%"
    checks: list[Check] = []
    for name, target in results["targets"].items():
        base = baseline.targets.get(name)
        histograms = current.get(name)
        reason = _regression_blocker(name, target, baseline, histograms, min_requests)
        comparisons = []
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
                Check(f"{metric} regression", name, "-", limit_text, "error", f"could not evaluate: {reason}")
                for metric in regression.metrics
            ]
            continue
        note = _environment_note(results, baseline, target, base.backend)
        for metric, comparison in zip(regression.metrics, comparisons, strict=False):
            verdict: Verdict = "fail" if comparison.regressed else "pass"
            why = (
                "significant and over the limit" if comparison.regressed
                else "over the limit but within the noise" if comparison.over_limit
                else "significant but within the limit" if comparison.significant
                else "within the limit"
            )
            detail = (
                f"{comparison.current_ms:.4g}ms vs baseline {comparison.baseline_ms:.4g}ms, "
                f"{comparison.confidence * 100:g}% CI {_percent(comparison.low)}..{_percent(comparison.high)}: "
                f"{why}{note}"
            )
            checks.append(Check(f"{metric} regression", name, _percent(comparison.ratio), limit_text,
                                verdict, detail))
    return checks


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


# -- renderers (pure, return strings or rich renderables) ---------------------------------


def build_gate_table(checks: Sequence[Check]) -> Table:
    """A rich table of every check (verdict coloured)."""
    table = Table(title=f"archbench gate: {gate_outcome(checks)}", title_justify="left")
    for column in ("verdict", "scope", "check", "value", "limit", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        # user text (endpoint names like "GET /x/{id}" or "[...]") is not rich markup
        cells = (check.scope, check.name, check.value, check.limit, check.detail)
        table.add_row(Text(check.verdict.upper(), style=_STYLE[check.verdict]), *(Text(c) for c in cells))
    return table


def format_gate_table(checks: Sequence[Check], *, width: int = 160) -> str:
    """The console table as plain text."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(build_gate_table(checks))
    return buffer.getvalue()


def format_junit(checks: Sequence[Check], *, suite: str = "archbench gate") -> str:
    """JUnit XML: one ``testcase`` per check; ``failure`` for fail, ``error`` for could-not-evaluate."""
    failures = sum(check.verdict == "fail" for check in checks)
    errors = sum(check.verdict == "error" for check in checks)
    counts = {"tests": str(len(checks)), "failures": str(failures), "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", {"name": suite, **counts})
    node = ET.SubElement(root, "testsuite", {"name": suite, **counts})
    for check in checks:
        case = ET.SubElement(node, "testcase", {
            "classname": f"archbench.gate.{check.scope}", "name": check.name, "time": "0",
        })
        summary = f"{check.name} [{check.scope}]: value {check.value}, limit {check.limit}"
        if check.verdict != "pass":
            tag = "failure" if check.verdict == "fail" else "error"
            element = ET.SubElement(case, tag, {"message": check.detail or summary, "type": tag})
            element.text = f"{summary}\n{check.detail}"
        ET.SubElement(case, "system-out").text = summary
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def format_gate_markdown(checks: Sequence[Check]) -> str:
    """A Markdown section (for ``$GITHUB_STEP_SUMMARY``): outcome line and a table of checks."""
    icon = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}
    counted = {v: sum(c.verdict == v for c in checks) for v in ("pass", "fail", "error")}
    lines = [
        f"### archbench gate: {gate_outcome(checks)}",
        "",
        f"{counted['pass']} passed, {counted['fail']} failed, {counted['error']} could not be evaluated.",
        "",
        "| verdict | scope | check | value | limit | detail |",
        "|---|---|---|---|---|---|",
    ]
    for check in checks:
        cells = (icon[check.verdict], check.scope, check.name, check.value, check.limit, check.detail)
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


# -- the command's work (I/O at the edge) --------------------------------------------------


def evaluate_run(
    run_dir: Path, config: Config, *, thresholds: Sequence[str] | None = None, baseline: Path | None = None,
) -> list[Check]:
    """Load a run (and the baseline), evaluate every check. Parse errors raise ``BenchError``."""
    parsed = parse_thresholds(config.gate.thresholds if thresholds is None else thresholds)
    check_regression_metrics(config.gate.regression.metrics)
    reference: str | Path | None = baseline if baseline is not None else (config.gate.baseline or None)
    loaded = load_baseline(resolve_baseline(reference, baselines_dir(config))) if reference else None
    results = load_results(run_dir)
    checks = evaluate_thresholds(results, parsed, min_requests=config.gate.min_requests)
    if loaded is not None:
        current: dict[str, WindowHistograms | str] = {}
        for name, target in results["targets"].items():
            try:
                current[name] = read_histograms(run_dir, target)
            except BenchError as error:
                current[name] = str(error)
        checks += evaluate_regression(
            results, loaded, current, config.gate.regression, min_requests=config.gate.min_requests
        )
    if not checks:
        checks.append(Check("gate", "-", "-", "-", "error", (
            "could not evaluate: no thresholds and no baseline; set [gate] thresholds in bench.toml, "
            "pass --threshold, or pass --baseline"
        )))
    return checks


def baselines_dir(config: Config) -> Path:
    """Where ``bench baseline save`` writes and bare baseline names are looked up."""
    return Path(config.run.out) / "baselines"


def gate_run(
    run_dir: Path,
    config: Config,
    *,
    thresholds: tuple[str, ...] | None = None,
    baseline: Path | None = None,
    junit: Path | None = None,
) -> int:
    """Evaluate the gate over ``run_dir``, print the table, write JUnit / step summary; return the exit code.

    ``thresholds`` replaces ``[gate] thresholds`` when given; ``baseline`` replaces
    ``gate.baseline`` (a path, or a name saved under ``<run.out>/baselines``). A bad
    threshold or baseline raises ``BenchError`` (exit 2) before anything is written.
    """
    checks = evaluate_run(run_dir, config, thresholds=thresholds, baseline=baseline)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # CI logs: wide rows, not folded cells
    console.print(build_gate_table(checks))
    if junit is not None:
        write_atomic(Path(junit), format_junit(checks))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:  # appended: other steps write too
            handle.write(format_gate_markdown(checks) + "\n")
    return gate_exit_code(checks)
