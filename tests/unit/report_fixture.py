"""Helpers shared by the report tests: the checked-in run directory and copies of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-v1"


def copy_fixture(destination: Path) -> Path:
    """A writable copy of the fixture run directory under ``destination``."""
    run_dir = destination / "run"
    shutil.copytree(FIXTURE, run_dir)
    return run_dir


def edit_results(run_dir: Path, edit: Any) -> dict[str, Any]:
    """Apply ``edit(results)`` to ``run_dir/results.json`` in place; return the new results."""
    path = run_dir / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    edit(results)
    path.write_text(json.dumps(results), encoding="utf-8")
    return results


# What `bench gate` writes to <run_dir>/gate.json (one check deliberately lacks keys).
GATE = {
    "status": "FAIL",
    "exit_code": 1,
    "checks": [
        {"name": "p95 < 200ms", "target": "monolith", "endpoint": None, "metric": "p95", "op": "<",
         "limit": "200 ms", "value": "102.6 ms", "verdict": "pass", "detail": ""},
        {"name": "error_rate < 0.1%", "target": "microservices", "endpoint": "POST /orders",
         "metric": "error_rate", "op": "<", "limit": "0.1%", "value": "0.54%", "verdict": "fail",
         "detail": "0.54% is above 0.1%"},
        {"name": "p99 regression", "target": "event-driven", "verdict": "error"},
    ],
}


def write_gate(run_dir: Path, gate: dict[str, Any] | None = None) -> Path:
    """Write ``gate`` (default ``GATE``) as ``run_dir/gate.json``; return its path."""
    path = run_dir / "gate.json"
    path.write_text(json.dumps(GATE if gate is None else gate), encoding="utf-8")
    return path


def interrupt(results: dict[str, Any], name: str) -> None:
    """Make target ``name`` look like bench run recorded it after SIGTERM during load."""
    target = results["targets"][name]
    for key in ("cost", "claims", "resources", "timings"):
        target.pop(key, None)
    target["integrity"] = {"acknowledged": 0, "found": 0, "lost": 0, "final": {}, "not_final": 0,
                           "time_to_final": None, "stats": {}, "ok": False,
                           "reasons": ["interrupted: integrity was not checked"]}
    target["valid"] = {"ok": False, "reasons": ["interrupted (Ctrl-C): partial measurement"]}
    results["finished_at"] = None


# -- a capacity run (bench capacity) built from the fixture: every target searched ----------

SLO = ["p99 < 200ms", "error_rate < 1%"]
# target -> (kind, capacity_rps, low_rps, high_rps, offered rates in the order tried)
CAPACITIES: dict[str, tuple[str, float | None, float | None, float | None, tuple[float, ...]]] = {
    "monolith": ("bracketed", 400.0, 400.0, 440.0, (100.0, 200.0, 400.0, 800.0, 600.0, 500.0, 440.0)),
    "microservices": ("bracketed", 150.0, 150.0, 165.0, (100.0, 200.0, 150.0, 175.0, 165.0)),
    "event-driven": ("at_least", 300.0, 300.0, None, (100.0, 200.0, 300.0, 400.0)),
}


def capacity_step(offered: float, holds: bool, knee: float, generator_bound: bool = False) -> dict[str, Any]:
    """One synthetic CapacityStep: the p99 hockey stick around ``knee`` requests/s."""
    load = offered / knee
    p99 = 12.0 + 150.0 * load**6 if holds else 400.0 * load**4
    achieved = offered if holds else min(offered, knee * 1.05)
    return {
        "offered_rps": offered, "achieved_rps": achieved, "requests": int(achieved * 12),
        "error_rate": 0.0 if holds else 0.004, "dropped": 0 if holds else int(10 * (offered - achieved)),
        "p50_ms": p99 / 6, "p99_ms": p99, "service_p50_ms": p99 / 8,
        "service_p99_ms": p99 * (0.95 if holds else 0.3),
        "verdict": "holds" if holds else "breaks",
        "checks": [{"condition": "p99 < 200ms", "measured": p99, "low": p99 * 0.9, "high": p99 * 1.1,
                    "verdict": "holds" if holds else "breaks"}],
        "generator": {"cpus": "0", "processes": 1, "cpu_mean_pct": 40.0 * load, "cpu_peak_pct": 50.0 * load,
                      "bound": generator_bound, "reason": "late arrivals" if generator_bound else None},
        "services": [{"name": "app", "cpu_seconds": 9.0 * load, "cpu_mean_pct": min(99.0, 90.0 * load),
                      "cpu_peak_pct": 99.0, "rss_peak_bytes": 100 * 2**20}],
        "limited_by": "generator" if generator_bound else f"app ({min(99.0, 90.0 * load):.0f}% of a core)",
    }


def add_capacity(results: dict[str, Any]) -> None:
    """Turn the fixture's run into a `bench capacity` run of schema v2 (in place)."""
    results["schema"] = "archbench/results@2"
    for name, target in results["targets"].items():
        kind, found, low, high, rates = CAPACITIES[name]
        knee = high or (found or 100.0) * 1.5
        steps = [capacity_step(r, (found is not None and r <= found), knee,
                               generator_bound=(kind == "at_least" and r > (found or 0))) for r in rates]
        target["profile"].update(model="open", name=f"capacity@{found or rates[0]:g}/s", arrival="constant")
        for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms", "max_ms", "mean_ms"):
            target["summary"][f"service_{key}"] = target["summary"][key] * 0.8
        target["summary"]["dropped"] = 0
        at = next((s for s in steps if s["offered_rps"] == found), None)
        target["capacity"] = {
            "slo": list(SLO), "kind": kind, "capacity_rps": found, "low_rps": low, "high_rps": high,
            "generator_limited": kind == "at_least", "reason": "bracketed within capacity.tolerance"
            if kind == "bracketed" else f"the generator could not keep the schedule at {rates[-1]:g}/s",
            "description": f"{found:g}/s" if kind == "bracketed" else f"at least {found:g}/s",
            "latency_from": "intended start (response time)",
            "p99_at_capacity_ms": at["p99_ms"] if at else None,
            "limited_by": next((s["limited_by"] for s in steps if s["verdict"] != "holds"), "unknown"),
            "steps": steps,
        }
        target.pop("cost", None)
        target.pop("claims", None)


def copy_capacity_fixture(destination: Path) -> Path:
    """A writable copy of the fixture run directory, turned into a capacity run (``add_capacity``)."""
    run_dir = copy_fixture(destination)
    edit_results(run_dir, add_capacity)
    return run_dir
