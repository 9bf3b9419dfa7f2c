"""``bench run``: measure targets (or a running service) and write a results directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import (
    ALLOW_INVALID_OPTION,
    BACKEND_OPTION,
    CONFIG_OPTION,
    PROFILE_OPTION,
    admin_options,
    config_overrides,
    gate_options,
)
from harness.cli.worker import generator_options
from harness.config import CPU_KEYS, load_config
from harness.context import RunRequest, create_context, install_interrupt_handlers
from harness.gate.evaluate import check_gate_config
from harness.results import load_results
from harness.run import run_benchmark, run_exit_code, run_verdict
from harness.units import parse_duration


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@cli.command("run")
@click.argument("targets", nargs=-1)
@PROFILE_OPTION
@BACKEND_OPTION
@click.option("--users", type=click.IntRange(min=1), default=None, envvar="BENCH_USERS",
              help="Users in every stage of the profile.  [env: BENCH_USERS]")
@click.option("--duration", default=None, callback=_duration, envvar="BENCH_DURATION",
              help="Total load time, e.g. 30s or 2m; stages scale to fit.  [env: BENCH_DURATION]")
@click.option("--out", default=None, envvar="BENCH_OUT",
              help="Directory for run directories (default: run.out).  [env: BENCH_OUT]")
@click.option("--url", default=None, envvar="BENCH_URL",
              help="Drive an already-running service at http://127.0.0.1:PORT instead.  [env: BENCH_URL]")
@click.option("--name", default=None, envvar="BENCH_NAME",
              help="Name of the --url target in results (default: host-port); without --url, a "
                   "label added to the run id.  [env: BENCH_NAME]")
@click.option("--pid", type=int, default=None, envvar="BENCH_PID",
              help="Process id of the --url service, to sample its CPU and memory.  [env: BENCH_PID]")
@admin_options
@click.option("--gate/--no-gate", default=False, envvar="BENCH_GATE",
              help="Evaluate the [gate] of bench.toml afterwards; exit 1 if it fails.  [env: BENCH_GATE]")
@gate_options
@generator_options
@ALLOW_INVALID_OPTION
@CONFIG_OPTION
def run_command(targets: tuple[str, ...], profile: str | None, backend: str | None, users: int | None,
                duration: float | None, out: str | None, url: str | None, name: str | None,
                pid: int | None, admin_user: str | None, admin_password: str | None, gate: bool,
                thresholds: tuple[str, ...], baseline: str | None, junit: Path | None,
                allow_invalid: bool, config_path: str | None, generator_workers: tuple[str, ...] = (),
                allow_remote_url: bool = False) -> None:
    """Start each TARGET (default: run.targets), seed it, load it, measure it, check its orders.

    Exit 0: every target valid and its orders kept; 1: a target INVALID (reasons printed
    last; --allow-invalid accepts it), an integrity failure, or a failed gate.
    """
    install_interrupt_handlers()  # even when started with SIGINT ignored (`cmd &` in a script)
    overrides = config_overrides(click.get_current_context(), {
        "run.profile": "profile", "run.backend": "backend", "run.out": "out",
        "gate.thresholds": "thresholds", "gate.baseline": "baseline",
        "generator.workers": "generator_workers",
    })
    config = load_config(config_path, overrides=overrides,  # --url starts no target: its CPUs are not ours
                         cpu_keys=("generator_cpus",) if url is not None else CPU_KEYS)
    if gate:  # a bad threshold, regression metric or limit should fail now, not after minutes of load
        check_gate_config(config.gate)
    request = RunRequest(targets=targets, users=users, duration=duration, url=url, name=name, pid=pid,
                         admin_user=admin_user, admin_password=admin_password,
                         allow_remote_url=allow_remote_url)
    run_dir = run_benchmark(create_context(config, request))
    click.echo(str(run_dir))
    for reason in run_verdict(load_results(run_dir)).reasons(allow_invalid):
        click.secho(reason, fg="yellow", err=True)
    sys.exit(run_exit_code(run_dir, config, gate, junit=junit, allow_invalid=allow_invalid))
