"""Wall time of ``bench report`` on a run with about one million samples (goal: < 10 s).

    .venv/bin/python benchmarks/report_wall_time.py [--samples 1000000] [--repeat 3] [--keep DIR]

Builds a synthetic run directory with tests/fixtures/make_results_fixture.py (seeded;
samples split over the three targets), then runs the real command line
(``bench report RUN_DIR`` in a fresh process, interpreter start-up included) ``--repeat``
times and prints every wall and CPU time (CPU time is what a busy shared machine
does not inflate), the median and whether it meets the goal.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 10.0


def _fixture_module():
    path = ROOT / "tests" / "fixtures" / "make_results_fixture.py"
    spec = importlib.util.spec_from_file_location("make_results_fixture", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="build the run here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="archbench-report-bench-") as scratch:
        run_dir = args.keep or Path(scratch) / "run"
        started = time.perf_counter()
        results = _fixture_module().make_run(run_dir, samples=args.samples)
        built = time.perf_counter() - started
        rows = 0
        import pyarrow.parquet as pq

        for target in results["targets"].values():
            rows += pq.ParquetFile(run_dir / target["samples"]).metadata.num_rows
        print(f"run directory: {run_dir} ({rows:,} samples, built in {built:.1f} s)")

        bench = Path(sys.executable).with_name("bench")
        command = [str(bench)] if bench.exists() else [sys.executable, "-m", "harness.cli"]
        times, cpu_times = [], []
        for attempt in range(1, args.repeat + 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([*command, "report", str(run_dir)], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            print(f"  bench report #{attempt}: {times[-1]:.2f} s wall, {cpu_times[-1]:.2f} s CPU")
        size = (run_dir / "index.html").stat().st_size
        median = statistics.median(times)
        verdict = "meets" if median < GOAL_S else "MISSES"
        print(f"bench report wall time on {rows:,} samples: median {median:.2f} s, "
              f"min {min(times):.2f} s over {len(times)} runs (CPU median {statistics.median(cpu_times):.2f} s, "
              f"load average {os.getloadavg()[0]:.1f}); index.html {size / 1024:.0f} KiB; "
              f"{verdict} the {GOAL_S:.0f} s goal")


if __name__ == "__main__":
    main()
