"""Capacity of each target at the default SLO, repeated: medians, spread and wall time.

Runs ``bench capacity TARGETS --backend B`` ``--rounds`` times (all targets in each
round, so drift hits them alike) with bench.toml's ``[capacity]`` defaults, and prints
per round and target the capacity (req/s at the SLO, with its bracket), what limited it,
and the round's wall time; then per target the median, min and max over the rounds.

Usage: .venv/bin/python benchmarks/capacity_repeat.py [--rounds 3] [--backend local] [TARGET ...]
All traffic goes to 127.0.0.1; every search stops by itself (capacity.max_steps).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.results import load_results

BENCH = str(Path(sys.executable).parent / "bench")
TARGETS = ("monolith", "microservices", "event-driven")


def one_round(targets: list[str], backend: str, out: Path) -> tuple[dict[str, dict[str, object]], float]:
    """One ``bench capacity`` over ``targets``: per target its capacity record; the wall seconds."""
    started = time.monotonic()
    done = subprocess.run([BENCH, "capacity", *targets, "--backend", backend, "--out", str(out)],
                          capture_output=True, text=True, check=False, timeout=3600)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench capacity failed ({done.returncode}):\n{done.stderr[-3000:]}")
    results = load_results(Path(done.stdout.strip().splitlines()[-1]))
    found = {}
    for name in targets:
        capacity = results["targets"][name]["capacity"]
        found[name] = {"capacity": capacity["capacity_rps"], "low": capacity["low_rps"],
                       "high": capacity["high_rps"], "kind": capacity["kind"],
                       "limited_by": capacity["limited_by"], "steps": len(capacity["steps"]),
                       "p99": capacity["p99_at_capacity_ms"]}
    return found, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="local")
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="archbench-capacity-") as out:
        for index in range(args.rounds):
            found, wall = one_round(args.targets, args.backend, Path(out))
            rounds.append(found)
            print(f"round {index + 1}: {wall:.0f} s wall", flush=True)
            for name, record in found.items():
                print(f"  {name}: {record['kind']} {record['capacity']} req/s "
                      f"[{record['low']}, {record['high']}], p99 at capacity {record['p99']} ms, "
                      f"{record['steps']} steps, limited by {record['limited_by']}", flush=True)
    for name in args.targets:
        values = [float(r[name]["capacity"] or 0.0) for r in rounds]
        print(f"{name}: median {statistics.median(values):.0f} req/s (min {min(values):.0f}, "
              f"max {max(values):.0f}, n={len(values)})")


if __name__ == "__main__":
    main()
