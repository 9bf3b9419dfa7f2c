"""What the reports show, computed from results.json and the files it names.

``collect(results, run_dir)`` reads the CSV/parquet files a run directory holds and
returns a ``ReportData``; everything else here is pure: warnings, headline rows,
recomputed cost/claims when results.json lacks them.

Conventions (fixed by tests/fixtures/make_results_fixture.py): ``started_at`` is when
load started, the measured window is ``[started_at + profile.warmup_s, + duration_s)``,
time-series ``t_s`` counts seconds since load start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.config import Config, parse_config
from harness.errors import BenchError
from harness.gate.baseline import read_response_times
from harness.pricing.claims import check_claims, check_ordering
from harness.pricing.cost import cost_for_target
from harness.report.firstscreen import format_cpus
from harness.results import Results, TargetResult

GATE_FILE = "gate.json"


@dataclass
class ReportData:
    """Everything a renderer needs, already loaded (frames keyed by target name)."""

    results: Results
    config: Config
    config_note: str  # "" or why defaults were used to recompute cost/claims
    targets: dict[str, TargetResult]  # with cost and claims filled in
    timeseries: dict[str, pd.DataFrame] = field(default_factory=dict)
    resources: dict[str, pd.DataFrame] = field(default_factory=dict)
    latencies: dict[str, np.ndarray] = field(default_factory=dict)  # measured-window latency_ms
    missing: list[str] = field(default_factory=list)  # files results.json names but that are absent
    ordering: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None  # gate.json of the run directory (``bench gate``), when present


def resolve_config(results: Results) -> tuple[Config, str]:
    """The run's resolved configuration as ``Config``; defaults (and why) if it does not parse."""
    try:
        return parse_config(dict(results.get("config") or {}), origin="results.json config"), ""
    except BenchError as error:
        return Config(), f"configuration in results.json could not be read ({error}); defaults used"


def complete_targets(results: Results, config: Config) -> dict[str, TargetResult]:
    """Targets with ``cost`` and ``claims`` present (recomputed when results.json lacks them).

    A target that cannot be costed (an interrupted run without services or summary) keeps
    no ``cost``; ``not_measured`` says why. Never raises for a partial target. Costs and
    claims written before they were priced at the enforced CPU budget and the capacity
    (no ``cost.reserved``, claims rows without ``basis``) are recomputed the same way.
    """
    completed: dict[str, TargetResult] = {}
    for name, target in (results.get("targets") or {}).items():
        target = dict(target)  # type: ignore[assignment]
        if target.get("cost") and "reserved" not in target["cost"]:
            target.pop("cost")
            target.pop("claims", None)
        if any("basis" not in row for row in target.get("claims") or []):
            target.pop("claims")
        if not target.get("cost"):
            try:
                target["cost"] = cost_for_target(target, config)
            except (KeyError, TypeError, ValueError, ZeroDivisionError, BenchError):
                target.pop("cost", None)
        if "claims" not in target:
            try:
                target["claims"] = check_claims(target, config)
            except (KeyError, TypeError, ValueError, ZeroDivisionError, BenchError):
                target["claims"] = []
        completed[name] = target
    return completed


def interruption(target: TargetResult) -> str:
    """The recorded reason a target's measurement was cut short, or ""."""
    reasons = (target.get("valid") or {}).get("reasons") or []
    return next((str(r) for r in reasons if "interrupted" in str(r).lower()), "")


def integrity_verdict(integrity: Mapping[str, Any] | None) -> dict[str, str]:
    """How a target's integrity record reads in the reports (pure).

    ``state``: "ok", "failed", "unchecked" (``checked`` false: nothing was reconciled, which
    is neither a failure nor ok) or "absent"; ``text``: "ok", "FAILED (3 lost)" or
    "not checked: <reason>"; ``reason``: why it failed or was not checked ("" otherwise);
    ``class``: the badge class (ok, bad, neutral).
    """
    if not integrity:
        return {"state": "absent", "text": "not measured", "reason": "", "class": "neutral"}
    reasons = [str(r) for r in integrity.get("reasons") or []]
    if not integrity.get("checked", True):  # files written before `checked` existed were checked
        why = "; ".join(r.removeprefix(_UNCHECKED) for r in reasons) or "no reason recorded"
        return {"state": "unchecked", "text": f"{_UNCHECKED}{why}", "reason": why, "class": "neutral"}
    lost = int(integrity.get("lost") or 0)
    if integrity.get("ok", True) and not lost:
        return {"state": "ok", "text": "ok", "reason": "", "class": "ok"}
    return {"state": "failed", "text": f"FAILED ({lost} lost)",
            "reason": "; ".join(reasons) or "no reason recorded", "class": "bad"}


_UNCHECKED = "not checked: "


def not_measured(target: TargetResult) -> dict[str, str]:
    """Why a section of ``target`` has no data: section -> "not measured: <why>" (absent: has data)."""
    cut = interruption(target)
    why = f" ({cut})" if cut else ""
    absent: dict[str, str] = {}
    if not target.get("summary") or not (target.get("summary") or {}).get("requests"):
        absent["summary"] = f"not measured: no request in the measured window{why}"
    if not target.get("endpoints"):
        absent["endpoints"] = f"not measured: no endpoint statistics recorded{why}"
    resources = target.get("resources") or {}
    if not resources.get("services"):
        errors = "; ".join(str(e) for e in (resources.get("errors") or [])[:2])
        absent["resources"] = f"not measured: no resource readings{why}" + (f": {errors}" if errors else "")
    integrity = target.get("integrity") or {}
    if not integrity:
        absent["integrity"] = f"not measured: no integrity check recorded{why}"
    elif not integrity.get("checked", True):
        absent["integrity"] = integrity_verdict(integrity)["text"]
    elif not integrity.get("ok", True) and not integrity.get("acknowledged") and integrity.get("reasons"):
        absent["integrity"] = f"not measured: {'; '.join(str(r) for r in integrity['reasons'])}"
    if not target.get("cost"):
        absent["cost"] = f"not measured: cost needs the target's services and measured throughput{why}"
    if not target.get("claims"):
        absent["claims"] = f"not measured: no claim configured for this target or no throughput{why}"
    return absent


def no_target_reason(results: Results) -> str:
    """Why a run has no target result (for reports of a run with zero targets)."""
    if not results.get("finished_at"):
        return ("no target finished: the run was interrupted or killed before the first target's result "
                "was recorded; see the run's log (the console output of `bench run`)")
    return ("no target finished: the run stopped before any target produced a result (e.g. a target "
            "failed to start); see the run's log (the console output of `bench run`) for the reason")


def warnings_for(results: Results, targets: dict[str, TargetResult], missing: list[str]) -> list[dict[str, str]]:
    """Problems a reader must see first: ``level`` (error/warning), ``target``, ``text``."""
    found: list[dict[str, str]] = []
    if not results.get("finished_at"):
        found.append({"level": "error", "target": "run", "text": "the run did not finish; results are partial"})
    if not targets:
        found.append({"level": "error", "target": "run", "text": no_target_reason(results)})
    for name, target in targets.items():
        valid = target.get("valid") or {"ok": True, "reasons": []}
        if not valid.get("ok", True):
            reasons = "; ".join(valid.get("reasons") or []) or "no reason recorded"
            found.append({"level": "error", "target": name, "text": f"INVALID run: {reasons}"})
        integrity = target.get("integrity") or {}
        lost = int(integrity.get("lost") or 0)
        if lost:
            found.append({"level": "error", "target": name,
                          "text": f"LOST WRITES: {lost} acknowledged order(s) not found in the store"})
        verdict = integrity_verdict(integrity)
        if verdict["state"] == "unchecked":  # not a failure: the validity says what it means
            found.append({"level": "warning", "target": name, "text": f"integrity {verdict['text']}"})
        elif verdict["state"] == "failed" and not integrity.get("ok", True):
            found.append({"level": "error", "target": name, "text": f"integrity check failed: {verdict['reason']}"})
        not_final = int(integrity.get("not_final") or 0)
        if not_final:
            found.append({"level": "warning", "target": name,
                          "text": f"{not_final} order(s) still pending when the bounded wait ended"})
        errors = (target.get("resources") or {}).get("errors") or []
        if errors:
            shown = "; ".join(str(e) for e in errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
            found.append({"level": "warning", "target": name, "text": f"resource sampling errors: {shown}"})
        generator = target.get("generator") or {}
        if generator.get("bound"):
            reason = generator.get("reason") or "the load generator saturated its CPU"
            found.append({"level": "warning", "target": name,
                          "text": f"GENERATOR-BOUND: {reason}"})
    for path in missing:
        found.append({"level": "warning", "target": "files", "text": f"missing data file: {path}"})
    return found


def window(target: TargetResult) -> tuple[float, float] | None:
    """Measured window ``(start, end)`` in epoch seconds, or None when it cannot be known."""
    try:
        started = datetime.fromisoformat(target["started_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    warmup = float((target.get("profile") or {}).get("warmup_s") or 0.0)
    duration = float(target.get("duration_s") or 0.0)
    if duration <= 0:
        return None
    return started + warmup, started + warmup + duration


def _read_csv(run_dir: Path, relative: str | None, missing: list[str]) -> pd.DataFrame:
    if not relative:
        return pd.DataFrame()
    path = run_dir / relative
    if not path.is_file():
        missing.append(relative)
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        missing.append(f"{relative} (unreadable)")
        return pd.DataFrame()


def _read_latencies(run_dir: Path, target: TargetResult, missing: list[str]) -> np.ndarray:
    relative = target.get("samples")
    if not relative:
        return np.empty(0)
    path = run_dir / relative
    if not path.is_file():
        missing.append(relative)
        return np.empty(0)
    try:
        start, latency = read_response_times(path)
    except (OSError, ValueError, KeyError, pa.ArrowException):  # cut short by a kill, or not a parquet file
        missing.append(f"{relative} (unreadable)")
        return np.empty(0)
    span = window(target)
    if span is not None:
        inside = (start >= span[0]) & (start < span[1])
        if inside.any():
            latency = latency[inside]
    return latency[np.isfinite(latency)]


def collect(results: Results, run_dir: Path) -> ReportData:
    """Load every file ``results`` names under ``run_dir`` into a ``ReportData``."""
    config, note = resolve_config(results)
    targets = complete_targets(results, config)
    data = ReportData(results=results, config=config, config_note=note, targets=targets)
    for name, target in targets.items():
        data.timeseries[name] = _read_csv(run_dir, target.get("timeseries"), data.missing)
        data.resources[name] = _read_csv(run_dir, (target.get("resources") or {}).get("csv"), data.missing)
        data.latencies[name] = _read_latencies(run_dir, target, data.missing)
    try:
        data.ordering = check_ordering(targets, config)
    except (KeyError, TypeError, ValueError):
        data.ordering = {}
    data.gate = read_gate(run_dir)
    return data


def read_gate(run_dir: Path) -> dict[str, Any] | None:
    """``run_dir/gate.json`` (written by ``bench gate``) as a dict; None when absent or unreadable."""
    path = run_dir / GATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    """A number for a table: thousands separators, ``digits`` decimals, "–" for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def usd(value: Any) -> str:
    """Dollars: 4 decimals under $1, 2 decimals otherwise."""
    if value is None:
        return "–"
    value = float(value)
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def cache_text(cache: Mapping[str, Any] | None) -> str:
    """``"redis cache: 68% hits (13,136 of 19,378 reads)"``, or "" for a target without a cache."""
    if not cache:
        return ""
    hits, misses = int(cache.get("hits") or 0), int(cache.get("misses") or 0)
    ratio = cache.get("hit_ratio")
    share = "–" if ratio is None else f"{100 * float(ratio):.0f}%"
    return f"{cache.get('kind', 'cache')} cache: {share} hits ({hits:,} of {hits + misses:,} reads)"


def headline(targets: dict[str, TargetResult]) -> list[dict[str, str]]:
    """One row of display strings per target for the headline table."""
    rows = []
    for name, target in targets.items():
        summary = target.get("summary") or {}
        integrity = target.get("integrity") or {}
        valid = target.get("valid") or {"ok": True, "reasons": []}
        budget = target.get("cpu_budget") or {}
        verdict = integrity_verdict(integrity) if integrity else integrity_verdict({"ok": True})
        rows.append({
            "target": name,
            "backend": str(target.get("backend", "")),
            "rps": fmt(summary.get("rps"), 1),
            "p50": fmt(summary.get("p50_ms"), 1),
            "p95": fmt(summary.get("p95_ms"), 1),
            "p99": fmt(summary.get("p99_ms"), 1),
            "error_rate": fmt(100 * float(summary.get("error_rate") or 0.0), 2, "%"),
            "requests": fmt(summary.get("requests")),
            "cpu_budget": f"target {format_cpus(budget.get('target_cpus'))} / "
                          f"generator {format_cpus(budget.get('generator_cpus'))}",
            "per_million": usd((target.get("cost") or {}).get("provisioned", {}).get("per_million_usd")),
            "integrity": verdict["text"],
            "integrity_ok": "1" if verdict["state"] == "ok" else "",
            "integrity_class": verdict["class"],
            "validity": "valid" if valid.get("ok", True) else "INVALID",
            "validity_ok": "1" if valid.get("ok", True) else "",
            "generator_bound": "1" if (target.get("generator") or {}).get("bound") else "",
            "cache": cache_text(target.get("cache")),
        })
    return rows
