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
