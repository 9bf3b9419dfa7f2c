"""Seconds from launching ``bench run`` to its first load request, per target and backend.

Launches ``bench run TARGET --backend B --profile smoke --duration 5s`` and subtracts the
launch time (epoch seconds) from the earliest ``start_s`` in the run's samples.parquet:
interpreter start, backend choice, image check (docker), infrastructure and services
up and healthy, seeding, Locust start. Also prints the run's own ``up_s`` and ``seed_s``.

Usage: .venv/bin/python benchmarks/first_request.py [--backends docker,local] [TARGET...]
All traffic goes to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness.registry import TARGETS
from harness.results import load_results

BENCH = str(Path(sys.executable).parent / "bench")


def first_request(target: str, backend: str, out: Path) -> tuple[float, dict[str, float]]:
    """(seconds from launch to the first request, the run's timings)."""
    launched = time.time()
    done = subprocess.run(
        [BENCH, "run", target, "--backend", backend, "--profile", "smoke", "--duration", "5s",
         "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench run {target} ({backend}) failed:\n{done.stderr[-3000:]}")
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    result = load_results(run_dir)["targets"][target]
    samples = pd.read_parquet(run_dir / result["samples"], columns=["start_s"])
    timings = dict(result.get("timings", {}))
    return float(samples["start_s"].min()) - launched, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--backends", default="docker,local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="archbench-first-") as tmp:
        for target in args.targets:
            for backend in args.backends.split(","):
                seconds, timings = first_request(target, backend, Path(tmp))
                print(
                    f"{target:<14} {backend:<7} first request after {seconds:5.1f} s "
                    f"(up {timings.get('up_s', 0):.1f} s, seed {timings.get('seed_s', 0):.1f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
