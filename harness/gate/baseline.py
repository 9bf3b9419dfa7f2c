"""Committed baselines for the regression gate: ``reports/baselines/<name>.json``.

A baseline is small (a few kB per target): the summary and per-endpoint statistics
of one run, its integrity counts, and what the noise model needs — per-window
latency histograms of the measured window (``harness.gate.noise``), never raw samples.
Only a VALID run becomes a baseline: an interrupted or generator-bound run is refused.

Format history (``schema``):
- ``archbench/baseline@1`` (2026-11): first version. Later additions, optional so older
  files still load: per-target ``capacity`` (2026-12, ``bench capacity`` runs only: the
  figure, its kind and bracket, the SLO) for the capacity regression check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import BenchError
from harness.gate.capacity import baseline_capacity
from harness.gate.noise import (
    WindowHistograms,
    histograms_from_dict,
    histograms_to_dict,
    window_histograms,
)
from harness.results import Results, TargetResult, load_results, read_versioned_json, write_atomic

BASELINE_SCHEMA = "archbench/baseline@1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class BaselineTarget:
    """What a baseline keeps of one target."""

    profile: str
    backend: str
    duration_s: float  # measured window, seconds
    summary: dict[str, Any]  # LatencyStats of the whole target
    endpoints: dict[str, dict[str, Any]]  # endpoint name -> LatencyStats
    histograms: WindowHistograms | None  # None when the run had no samples to bin
    capacity: dict[str, Any] | None = None  # `bench capacity` runs: see harness.gate.capacity.CAPACITY_KEYS


@dataclass(frozen=True)
class Baseline:
    name: str
    run_id: str
    started_at: str
    host: dict[str, Any]
    targets: dict[str, BaselineTarget]
    path: str = ""  # where it was loaded from (for messages)


def measured_window(target: TargetResult) -> tuple[float, float]:
    """``(begin_s, end_s)`` epoch seconds of the measured window: ``started_at + warmup_s``,
    plus ``duration_s``.
    """
    try:
        started = datetime.fromisoformat(target["started_at"]).timestamp()
        begin = started + float(target["profile"].get("warmup_s", 0.0))
        return begin, begin + float(target["duration_s"])
    except (KeyError, TypeError, ValueError) as error:
        raise BenchError(
            f"target {target.get('target', '?')!r}: cannot find the measured window in results.json "
            f"({error}); re-run `bench run`"
        ) from None


def read_histograms(run_dir: Path, target: TargetResult) -> WindowHistograms:
    """Per-window latency histograms of one target's measured window (reads samples.parquet)."""
    path = Path(run_dir) / target["samples"]
    try:
        start, latency = read_response_times(path)
    except FileNotFoundError:
        raise BenchError(f"{path} not found; the run directory is incomplete") from None
    except (OSError, ValueError, pa.ArrowException) as error:  # a damaged or foreign file
        raise BenchError(f"{path}: cannot read samples ({error})") from None
    begin, end = measured_window(target)
    return window_histograms(start, latency, begin_s=begin, end_s=end)


def read_response_times(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start_s, latency_ms) of the samples: open-model samples from their intended start (the
    response time the thresholds and the summary use), others as recorded (from the send)."""
    names = pq.read_schema(path).names
    columns = ["start_s", "latency_ms"] + (["intended_s"] if "intended_s" in names else [])
    table = pq.read_table(path, columns=columns)
    start = table.column("start_s").to_numpy().astype(np.float64)
    latency = table.column("latency_ms").to_numpy().astype(np.float64)
    if "intended_s" not in columns:
        return start, latency
    intended = table.column("intended_s").to_numpy().astype(np.float64)
    has = np.isfinite(intended)
    return np.where(has, intended, start), np.where(has, (start - intended) * 1000.0 + latency, latency)


def build_baseline(results: Results, histograms: dict[str, WindowHistograms], name: str) -> dict[str, Any]:
    """The JSON-able baseline document of a run (pure)."""
    targets: dict[str, Any] = {}
    for target_name, target in results["targets"].items():
        hist = histograms.get(target_name)
        targets[target_name] = {
            "profile": str(target["profile"].get("name", "")),
            "backend": target["backend"],
            "duration_s": target["duration_s"],
            "summary": target["summary"],
            "endpoints": {e["name"]: e for e in target["endpoints"]},
            "integrity": {
                "acknowledged": target["integrity"]["acknowledged"],
                "lost": target["integrity"]["lost"],
                "not_final": target["integrity"]["not_final"],
            },
            "noise": histograms_to_dict(hist) if hist is not None else None,
        }
        if target.get("capacity"):
            targets[target_name]["capacity"] = baseline_capacity(target.get("capacity"))
    host = results.get("host", {})
    return {
        "schema": BASELINE_SCHEMA,
        "name": name,
        "run_id": results["run_id"],
        "started_at": results["started_at"],
        "host": {key: host.get(key) for key in ("cpu_model", "cores", "memory_bytes", "os", "python")},
        "targets": targets,
    }


def save_baseline(run_dir: Path, directory: Path, name: str | None = None) -> Path:
    """Write ``directory/<name>.json`` from a run directory; return its path.

    ``name`` defaults to the run's profile name (one baseline per profile). A run with
    an INVALID target (``valid.ok`` false) is refused with its reasons (``BenchError``,
    exit 2): later runs would be judged against numbers that prove nothing.
    """
    results = load_results(run_dir)
    if not results["targets"]:
        raise BenchError(f"{run_dir}: the run has no targets; nothing to save as a baseline")
    invalid = [
        f"{target_name}: " + ("; ".join(map(str, target["valid"].get("reasons") or [])) or "no reason recorded")
        for target_name, target in results["targets"].items() if not target["valid"].get("ok", True)
    ]
    if invalid:
        raise BenchError(
            f"{run_dir}: the run is INVALID, so it cannot be a baseline ({' | '.join(invalid)}); "
            "fix the cause, run again and save that run"
        )
    if name is None:
        profiles = {str(t["profile"].get("name", "")) for t in results["targets"].values()}
        name = profiles.pop() if len(profiles) == 1 else "baseline"
    check_name(name)
    histograms = {t: read_histograms(run_dir, target) for t, target in results["targets"].items()}
    path = directory / f"{name}.json"
    write_atomic(path, json.dumps(build_baseline(results, histograms, name), separators=(",", ":")) + "\n")
    return path


def check_name(name: str) -> None:
    """Baseline names become file names: letters, digits, ``_ . -``; 1-64 characters."""
    if not _NAME.match(name):
        raise BenchError(
            f"baseline name {name!r} is not valid: use 1-64 letters, digits, '_', '.', '-' "
            "(starting with a letter or digit), e.g. 'smoke' or 'main-quick'"
        )


def resolve_baseline(reference: str | Path, directory: Path) -> Path:
    """A baseline path as given, or ``directory/<name>.json`` for a bare name like ``smoke``."""
    path = Path(reference)
    if path.exists():
        return path
    if path.suffix == "" and len(path.parts) == 1:
        named = directory / f"{path.name}.json"
        if named.exists():
            return named
    saved = sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []
    hint = f"saved baselines in {directory}: {', '.join(saved)}" if saved else (
        f"no baselines saved in {directory}; create one with `bench baseline save RUN_DIR`"
    )
    raise BenchError(f"baseline {str(reference)!r} not found; {hint}")


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; refuse other schemas with the fix."""
    data = read_versioned_json(
        Path(path),
        BASELINE_SCHEMA,
        label=f"baseline {path}",
        missing=f"baseline {path} not found; create it with `bench baseline save RUN_DIR`",
        fix="save it again with `bench baseline save RUN_DIR`",
    )
    try:
        targets = {
            name: BaselineTarget(
                profile=str(entry["profile"]),
                backend=str(entry["backend"]),
                duration_s=float(entry["duration_s"]),
                summary=dict(entry["summary"]),
                endpoints=dict(entry["endpoints"]),
                histograms=histograms_from_dict(entry["noise"]) if entry.get("noise") else None,
                capacity=dict(entry["capacity"]) if entry.get("capacity") else None,
            )
            for name, entry in data["targets"].items()
        }
        return Baseline(
            name=str(data["name"]), run_id=str(data["run_id"]), started_at=str(data["started_at"]),
            host=dict(data.get("host") or {}), targets=targets, path=str(path),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BenchError(
            f"baseline {path} is damaged ({error}); save it again with `bench baseline save RUN_DIR`"
        ) from None
