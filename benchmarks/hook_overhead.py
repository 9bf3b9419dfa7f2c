"""Figure: the raw-sample hook's overhead — Locust RPS with and without it, same target, one run.

    .venv/bin/python benchmarks/hook_overhead.py [--target monolith] [--seconds 15] [--rounds 2] [--users 10]

Starts the target once (local backend, target cpus from bench.toml), seeds it, then runs
Locust alternately WITH the hook (writing samples files) and WITHOUT it (the same
locustfile with an empty samples_dir), ``--rounds`` times each, pinned to the generator's
cpus. Reports Locust's own requests/s for each and the generator's CPU time per request
(children rusage), which shows the hook's cost even when the target, not the generator,
limits throughput. Goal: RPS with the hook >= 90% of RPS without.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import resource
import subprocess
import tempfile
from pathlib import Path

from harness.backends import deploy_settings, get_backend
from harness.config import Config, Profile, Stage, load_config
from harness.cpus import check_cpu_list
from harness.load import LoadPlan, locust_command
from harness.registry import get_topology
from harness.seed import SeedResult, seed_target
from scenarios.settings import ENV_VAR, ScenarioSettings


def one_run(plan: LoadPlan, hook: bool, directory: Path) -> tuple[float, int, float]:
    """(requests/s, requests, generator CPU seconds) of one Locust run."""
    settings = dataclasses.replace(plan.settings, samples_dir=str(directory / "samples") if hook else "")
    path = directory / "scenario.json"
    path.write_text(settings.to_json(), encoding="utf-8")
    prefix = directory / "stats"
    cpus = check_cpu_list(plan.generator_cpus, "cpu.generator_cpus")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [*locust_command(plan), "--csv", str(prefix)], env={**os.environ, ENV_VAR: str(path), "ARCHBENCH_LOCUST_STATS": "1"},  # it reads --csv
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        timeout=plan.profile.duration + 60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return float(total["Requests/s"]), int(total["Request Count"]), cpu


def hook_cost_us(calls: int = 200_000) -> float:
    """Microseconds per ``events.request`` call of the recorder (formatting + buffering + flush)."""
    import time

    from scenarios.hook import SampleRecorder

    class Response:
        status_code = 200

    with tempfile.TemporaryDirectory() as tmp:
        recorder = SampleRecorder(tmp)
        response = Response()
        context = {"user": "shopper-1"}
        started = time.perf_counter()
        for i in range(calls):
            recorder.on_request("GET", "/products/{id}", 3.25, 512, response, context, None, 1.8e9 + i)
            if i % 20_000 == 0:
                recorder.flush()
        recorder.flush()
        return (time.perf_counter() - started) / calls * 1e6


def make_plan(config: Config, target: str, url: str, seed: SeedResult, *, seconds: float, users: int,
              workdir: Path) -> LoadPlan:
    """The one Locust run both variants repeat: ``users`` for ``seconds``, no warm-up."""
    profile = Profile(name="hook", warmup=0, stages=(Stage(duration=seconds, users=users, spawn_rate=users),))
    return LoadPlan(target=target, url=url, profile=profile,
                    settings=ScenarioSettings.from_config(config.scenario, seed, profile),
                    workdir=workdir, generator_cpus=config.cpu.generator_cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="monolith")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    print(f"hook alone: {hook_cost_us():.2f} µs per recorded request")
    config = load_config()
    with tempfile.TemporaryDirectory(prefix="archbench-hook-") as tmp:
        work = Path(tmp)
        settings = deploy_settings(config, args.target, "hook-overhead", work / "deploy")
        with get_backend("local", config).up(get_topology(args.target), settings) as deployment:
            seed = seed_target(deployment.url, config.seed, deployment.admin_username, deployment.admin_password)
            plan = make_plan(config, args.target, deployment.url, seed, seconds=args.seconds, users=args.users,
                             workdir=work)
            figures: dict[bool, list[tuple[float, int, float]]] = {True: [], False: []}
            for round_ in range(args.rounds):
                for hook in (False, True):
                    run_dir = work / f"r{round_}-{'hook' if hook else 'bare'}"
                    run_dir.mkdir()
                    figures[hook].append(one_run(plan, hook, run_dir))
                    rps, count, cpu = figures[hook][-1]
                    print(f"round {round_ + 1} {'with' if hook else 'without'} hook: {rps:.0f} req/s, "
                          f"{count} requests, generator {cpu / max(count, 1) * 1e6:.0f} µs CPU/request")
    mean = {h: sum(r for r, _, _ in runs) / len(runs) for h, runs in figures.items()}
    cpu_per = {h: sum(c for _, _, c in runs) / max(1, sum(n for _, n, _ in runs)) for h, runs in figures.items()}
    print(f"RPS with hook / without: {mean[True]:.0f} / {mean[False]:.0f} = {mean[True] / mean[False]:.1%}")
    print(f"generator CPU per request with / without hook: {cpu_per[True] * 1e6:.0f} / "
          f"{cpu_per[False] * 1e6:.0f} µs (+{(cpu_per[True] / cpu_per[False] - 1):.1%})")


if __name__ == "__main__":
    main()
