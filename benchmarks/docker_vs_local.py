"""Monolith throughput and p99 on the docker backend versus the local backend, one session.

Runs ``bench run monolith --profile PROFILE --duration D --backend B`` alternately
for docker and local (``--rounds`` each, interleaved so drift hits both alike), with
bench.toml's CPU sets (targets on ``cpu.target_cpus``, one CPU on a 2-core machine;
the generator on ``cpu.generator_cpus``), and prints per run: requests/s, p50/p99 (ms),
target CPU seconds, generator-bound flag, and the docker/local ratios of the medians.

Usage: .venv/bin/python benchmarks/docker_vs_local.py [--rounds 2] [--duration 30s] [--profile quick]
All traffic goes to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.results import load_results

BENCH = str(Path(sys.executable).parent / "bench")


def one_run(backend: str, profile: str, duration: str, out: Path) -> dict[str, float | bool]:
    """Run the monolith once; its rps, p50/p99 (ms), service CPU seconds and validity."""
    done = subprocess.run(
        [BENCH, "run", "monolith", "--backend", backend, "--profile", profile,
         "--duration", duration, "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench run ({backend}) failed:\n{done.stderr[-3000:]}")
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    target = load_results(run_dir)["targets"]["monolith"]
    summary = target["summary"]
    cpu = sum(s["cpu_seconds"] for s in target.get("resources", {}).get("services", []))
    return {
        "rps": summary["rps"],
        "p50": summary["p50_ms"] or 0.0,
        "p99": summary["p99_ms"] or 0.0,
        "cpu_s": cpu,
        "generator_bound": target["generator"]["bound"],
        "up_s": float(target.get("timings", {}).get("up_s", 0.0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float | bool]]] = {"docker": [], "local": []}
    with tempfile.TemporaryDirectory(prefix="archbench-dvl-") as tmp:
        for round_ in range(args.rounds):
            for backend in ("docker", "local"):
                result = one_run(backend, args.profile, args.duration, Path(tmp))
                runs[backend].append(result)
                print(
                    f"round {round_ + 1} {backend:<6}: {result['rps']:7.1f} req/s  "
                    f"p50 {result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms  "
                    f"target CPU {result['cpu_s']:5.1f} s  up {result['up_s']:4.1f} s  "
                    f"generator-bound {result['generator_bound']}",
                    flush=True,
                )
    medians = {
        backend: {key: statistics.median(float(r[key]) for r in results) for key in ("rps", "p99")}
        for backend, results in runs.items()
    }
    print(
        f"median docker/local: throughput {medians['docker']['rps'] / medians['local']['rps']:.3f}, "
        f"p99 {medians['docker']['p99'] / medians['local']['p99']:.3f}"
    )


if __name__ == "__main__":
    main()
