"""Seconds from ``LocalBackend.up()`` to every service healthy, and teardown seconds, per target.

Usage: .venv/bin/python benchmarks/local_startup.py [--repeat N] [TARGET...]
Prints one line per target: median/min/max startup and teardown (seconds), and the
per-instance breakdown of the median run (seconds from up() until that instance was healthy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.registry import TARGETS


def measure(target: str, workdir: Path) -> tuple[float, float, dict[str, float]]:
    """(startup s, teardown s, per-instance s since up()) of one start/stop of ``target``."""
    settings = DeploySettings(run_id="startup", workdir=workdir, target_cpus="", health_timeout=120)
    started = time.monotonic()
    with LocalBackend().up(TARGETS[target], settings) as deployment:
        ready = time.monotonic() - started
        breakdown = dict(deployment.startup_seconds)
        stopping = time.monotonic()
    return ready, time.monotonic() - stopping, breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="archbench-startup-"))
    os.chmod(workdir, 0o711)
    try:
        print(f"cpus: {os.cpu_count()}, repeats: {args.repeat}")
        for target in args.targets:
            runs = [measure(target, workdir) for _ in range(args.repeat)]
            ups = [r[0] for r in runs]
            downs = [r[1] for r in runs]
            median_run = sorted(runs)[len(runs) // 2]
            parts = ", ".join(f"{k} {v:.2f}" for k, v in median_run[2].items() if k != "total")
            print(f"{target:<14} up {statistics.median(ups):.2f}s (min {min(ups):.2f}, max "
                  f"{max(ups):.2f})  down {statistics.median(downs):.2f}s  [{parts}]")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
