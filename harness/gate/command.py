"""What ``bench gate`` and ``bench run --gate`` do: load, evaluate, print, write (I/O at the edge).

``gate_run`` is the one function both commands call. It prints the table, writes
JUnit XML (``--junit``), appends Markdown to ``$GITHUB_STEP_SUMMARY`` and writes
``<run_dir>/gate.json``; every file but the appended summary is written atomically.

``gate.json`` (``schema`` ``archbench/gate@1``), for the report and other tools::

    {
      "schema": "archbench/gate@1",
      "status": "PASS" | "FAIL" | "COULD NOT EVALUATE",   # the gate's one-word outcome
      "exit_code": 0 | 1 | 2,                             # what `bench gate` exits with
      "counts": {"pass": 3, "fail": 0, "error": 0},        # checks per verdict
      "baseline": {"name": "smoke", "path": "reports/baselines/smoke.json", "run_id": "..."}
                  | null,                                  # null: no regression check
      "checks": [                                          # in table order
        {
          "kind": "threshold" | "regression" | "gate",     # "gate": nothing to check
          "name": "p95 < 200ms",                           # or "p95 regression"
          "target": "monolith" | null,                     # null: not about one target
          "endpoint": "GET /products/{id}" | null,         # null: the target's total
          "metric": "p95" | null,                          # p50 ... max, mean, error_rate, rps,
                                                           # requests, failures, lost, not_final,
                                                           # ttf_p95, ttf_p99
          "op": "<" | "<=" | ">" | ">=" | "==" | null,     # regression: "<=" (change <= +limit)
          "limit": "200ms" | "1%" | "300/s" | "0" | "+15%" | null,   # with its unit
          "value": "74.54ms" | "0.5%" | "312.0/s" | "2" | "+3.2%" | null,  # measured, with
                                                           # its unit; regression: the change
                                                           # vs the baseline; null: no value
          "verdict": "pass" | "fail" | "error",            # error: could not evaluate
          "detail": "p95 is 250ms, needs < 200ms"          # why ("" for most passes)
        }
      ]
    }

Format history: ``archbench/gate@1`` (2026-11) first version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness.config import Config
from harness.errors import BenchError
from harness.gate.baseline import Baseline, load_baseline, read_histograms, resolve_baseline
from harness.gate.evaluate import (
    Check,
    check_gate_config,
    evaluate_regression,
    evaluate_thresholds,
    gate_exit_code,
    invalid_reason,
    nothing_to_check,
)
from harness.gate.formats import (
    build_gate_table,
    format_gate_json,
    format_gate_markdown,
    format_junit,
)
from harness.gate.noise import WindowHistograms
from harness.results import RESULTS_FILE, load_results, write_atomic

GATE_FILE = "gate.json"
NO_BASELINE = ("", "none")  # --baseline none / --baseline "": no regression check


@dataclass(frozen=True)
class GateEvaluation:
    """Every check of one gate and the baseline it compared against (None: no regression check)."""

    checks: list[Check]
    baseline: Baseline | None
    invalid: dict[str, str]  # target -> why its run is INVALID (its checks could not be evaluated)


def baselines_dir(config: Config) -> Path:
    """Where ``bench baseline save`` writes and bare baseline names are looked up."""
    return Path(config.run.out) / "baselines"


def baseline_reference(option: str | Path | None, configured: str) -> str | None:
    """The baseline to compare against: ``option`` (a path or name) or, when None, ``configured``.

    ``none`` (any case) and ``""`` mean no regression check and return None.
    """
    reference = configured if option is None else str(option)
    return None if reference.strip().lower() in NO_BASELINE else reference


def evaluate_gate(
    run_dir: Path, config: Config, *, thresholds: Sequence[str] | None = None,
    baseline: str | Path | None = None,
) -> GateEvaluation:
    """Load a run (and the baseline), evaluate every check. Bad input raises ``BenchError``.

    ``thresholds`` replaces ``[gate] thresholds`` when given; ``baseline`` replaces
    ``gate.baseline`` (a path, a name saved under ``<run.out>/baselines``, or ``none``).
    """
    parsed = check_gate_config(config.gate, thresholds)
    reference = baseline_reference(baseline, config.gate.baseline)
    loaded = load_baseline(resolve_baseline(reference, baselines_dir(config))) if reference else None
    results = load_results(run_dir)
    checks = evaluate_thresholds(results, parsed, min_requests=config.gate.min_requests)
    if loaded is not None:
        current: dict[str, WindowHistograms | str] = {}
        for name, target in results["targets"].items():
            try:
                current[name] = read_histograms(_directory(run_dir), target)
            except BenchError as error:
                current[name] = str(error)
        checks += evaluate_regression(
            results, loaded, current, config.gate.regression, min_requests=config.gate.min_requests
        )
    if not checks:
        checks.append(nothing_to_check())
    invalid = {name: why for name, target in results["targets"].items()
               if (why := invalid_reason(name, target)) is not None}
    return GateEvaluation(checks, loaded, invalid)


def evaluate_run(
    run_dir: Path, config: Config, *, thresholds: Sequence[str] | None = None,
    baseline: str | Path | None = None,
) -> list[Check]:
    """The checks of ``evaluate_gate``."""
    return evaluate_gate(run_dir, config, thresholds=thresholds, baseline=baseline).checks


def _directory(run_dir: Path) -> Path:
    """The run directory of ``run_dir`` (which may name its results.json)."""
    path = Path(run_dir)
    return path.parent if path.name == RESULTS_FILE and not path.is_dir() else path


def gate_run(
    run_dir: Path,
    config: Config,
    *,
    thresholds: Sequence[str] | None = None,
    baseline: str | Path | None = None,
    junit: Path | None = None,
    console: Console | None = None,
) -> int:
    """Evaluate the gate over ``run_dir``, print it, write its files; return the exit code.

    Writes ``<run_dir>/gate.json`` (see the module docstring), JUnit XML to ``junit``
    when given, and appends Markdown to ``$GITHUB_STEP_SUMMARY`` when it is set. A bad
    threshold or baseline raises ``BenchError`` (exit 2) before anything is written.
    """
    evaluation = evaluate_gate(run_dir, config, thresholds=thresholds, baseline=baseline)
    checks = evaluation.checks
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)  # CI logs: wide rows, not folded cells
    console.print(build_gate_table(checks))
    for name, why in evaluation.invalid.items():  # the reasons, last, where a reader looks
        console.print(f"could not evaluate {name}: {why}", style="yellow", markup=False, highlight=False)
    if junit is not None:
        write_atomic(Path(junit), format_junit(checks))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:  # appended: other steps write too
            handle.write(format_gate_markdown(checks) + "\n")
    loaded = evaluation.baseline
    described = None if loaded is None else {"name": loaded.name, "path": loaded.path, "run_id": loaded.run_id}
    path = _directory(run_dir) / GATE_FILE
    try:
        write_atomic(path, format_gate_json(checks, baseline=described))
    except OSError as error:  # a read-only run directory (a downloaded artifact) still gates
        console.print(f"gate.json not written: {path}: {error.strerror or error}", style="yellow",
                      markup=False, highlight=False)
    return gate_exit_code(checks)
