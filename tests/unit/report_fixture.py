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
