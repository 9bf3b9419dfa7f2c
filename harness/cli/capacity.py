"""``bench capacity``: the highest open-model arrival rate each target holds within the SLO."""

from __future__ import annotations

import dataclasses

import click

from harness.calibration import with_generator_ceiling
from harness.capacity.runner import check_capacity_config, measure_capacity, step_profile
from harness.cli import cli
from harness.cli.options import (
    ALLOW_INVALID_OPTION,
    BACKEND_OPTION,
    CONFIG_OPTION,
    OUT_OPTION,
    admin_options,
    exit_with_verdict,
)
from harness.cli.worker import generator_options
from harness.config import CPU_KEYS, load_config
from harness.context import RunRequest, create_context, install_interrupt_handlers
from harness.run import run_benchmark


@cli.command("capacity")
@click.argument("targets", nargs=-1)
@click.option("--slo", "slos", multiple=True, envvar="BENCH_SLO",
              help='An SLO condition, repeatable (default: [capacity] slo), e.g. "p99 < 200ms", '
                   '"error_rate < 1%". Latency is measured from the intended start.  [env: BENCH_SLO]')
@click.option("--start-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              envvar="BENCH_START_RATE", help="Requests/s of the first step.  [env: BENCH_START_RATE]")
@click.option("--max-steps", type=click.IntRange(min=2), default=None, envvar="BENCH_MAX_STEPS",
              help="Steps in all, repeats included.  [env: BENCH_MAX_STEPS]")
@click.option("--step-duration", default=None, envvar="BENCH_STEP_DURATION",
              help="Seconds of load per step, e.g. 15s.  [env: BENCH_STEP_DURATION]")
@OUT_OPTION
@BACKEND_OPTION
@click.option("--url", default=None, envvar="BENCH_URL",
              help="Search the capacity of an already-running service at http://127.0.0.1:PORT "
                   "instead.  [env: BENCH_URL]")
@admin_options
@generator_options
@ALLOW_INVALID_OPTION
@CONFIG_OPTION
def capacity_command(targets: tuple[str, ...], slos: tuple[str, ...], start_rate: float | None,
                     max_steps: int | None, step_duration: str | None, out: str | None,
                     backend: str | None, allow_invalid: bool, config_path: str | None,
                     url: str | None = None, admin_user: str | None = None,
                     admin_password: str | None = None, generator_workers: tuple[str, ...] = (),
                     allow_remote_url: bool = False) -> None:
    """Find each TARGET's capacity (default: run.targets): the highest arrival rate within the SLO.

    An exponential ramp brackets the knee, bisection narrows it; every step is recorded
    in results.json (``capacity``) and the report. Exit 0: every target measured; 1: a
    target INVALID or an integrity failure; 2: could not run.
    """
    install_interrupt_handlers()
    config = load_config(config_path, overrides={
        "run.backend": backend, "run.out": out, "capacity.slo": list(slos) or None,
        "capacity.start_rate": start_rate, "capacity.max_steps": max_steps,
        "capacity.step_duration": step_duration,
        "generator.workers": list(generator_workers) or None,
    }, cpu_keys=("generator_cpus",) if url is not None else CPU_KEYS)
    config = with_generator_ceiling(config, lambda line: click.echo(line, err=True))  # max_rate 0: bench calibrate's
    check_capacity_config(config.capacity)  # a bad SLO fails now, not after minutes of load
    context = create_context(config, RunRequest(targets=targets, url=url, admin_user=admin_user,
                                                admin_password=admin_password,
                                                allow_remote_url=allow_remote_url))
    first = step_profile(config.capacity, config.capacity.start_rate)
    context = dataclasses.replace(context, profile=dataclasses.replace(first, name="capacity"))
    context.console.print(f"capacity search: SLO {' and '.join(config.capacity.slo)} "
                          f"(latency from the intended start), steps of {config.capacity.step_duration:g}s")
    exit_with_verdict(run_benchmark(context, measure=measure_capacity), allow_invalid)
