"""Figure: `bench run` wall time versus the sum of its load durations (set-up/teardown share).

    .venv/bin/bench run --profile quick --backend local --out /tmp/q
    .venv/bin/python benchmarks/run_overhead.py /tmp/q/latest

Reads results.json: wall = finished_at - started_at; load = the sum of each target's
profile duration; every other second (start-up, seeding, analysis, integrity, teardown,
reports) is overhead, broken down by phase from each target's ``timings``.
Goal: overhead under 25% of the total.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from harness.results import load_results


def main() -> None:
    parser = argparse.ArgumentParser(description="bench run wall time versus its load durations")
    parser.add_argument("run_dir", nargs="?", default="reports/latest", help="a run directory (default: %(default)s)")
    results = load_results(parser.parse_args().run_dir)
    started = datetime.fromisoformat(results["started_at"])
    finished = datetime.fromisoformat(results["finished_at"] or results["started_at"])
    wall = (finished - started).total_seconds()
    load = sum(t["profile"]["duration_s"] for t in results["targets"].values())
    phases: dict[str, float] = {}
    for target in results["targets"].values():
        for phase, seconds in (target.get("timings") or {}).items():
            phases[phase] = phases.get(phase, 0.0) + seconds
    print(f"targets: {', '.join(results['targets'])}")
    print(f"wall {wall:.1f} s, load {load:.1f} s, overhead {wall - load:.1f} s = {(wall - load) / wall:.1%} of the total")
    print("phases (s, summed over targets): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
