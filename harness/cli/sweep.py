"""``bench sweep``: capacity and cost per million as the CPU budget and replicas grow."""

from __future__ import annotations

import dataclasses

import click
from rich.table import Table

from harness.capacity.runner import check_capacity_config, step_profile
from harness.capacity.sweep import parse_replicas, run_sweep, sweep_table
from harness.cli import cli
from harness.cli.options import (
    ALLOW_INVALID_OPTION,
    BACKEND_OPTION,
    CONFIG_OPTION,
    OUT_OPTION,
    exit_with_verdict,
)
from harness.config import load_config
from harness.context import RunRequest, create_context, install_interrupt_handlers
from harness.errors import ConfigError
from harness.results import load_results


def _budgets(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--cpus {text!r}: give vCPU budgets separated by commas, e.g. 0.5,1") from None


@cli.command("sweep")
@click.argument("targets", nargs=-1)
@click.option("--cpus", default=None, envvar="BENCH_SWEEP_CPUS",
              help="Total vCPU budgets, e.g. 0.5,1,1.5 (split over each target's instances by their "
                   "declared shares).  [env: BENCH_SWEEP_CPUS]")
@click.option("--replicas", "replicas", multiple=True, envvar="BENCH_SWEEP_REPLICAS",
              help="Replica counts of one service, e.g. catalog=1,2,3; repeatable.  [env: BENCH_SWEEP_REPLICAS]")
@OUT_OPTION
@BACKEND_OPTION
@ALLOW_INVALID_OPTION
@CONFIG_OPTION
def sweep_command(targets: tuple[str, ...], cpus: str | None, replicas: tuple[str, ...], out: str | None,
                  backend: str | None, allow_invalid: bool, config_path: str | None) -> None:
    """A capacity search at every CPU budget and replica count that fits this machine.

    Points that do not fit (more vCPUs than cpu.target_cpus offers, too few for the
    instances to start) are skipped and named. Exit 0: every point measured; 1: a point
    INVALID or an integrity failure; 2: could not run.
    """
    install_interrupt_handlers()
    config = load_config(config_path, overrides={"run.backend": backend, "run.out": out})
    budgets = _budgets(cpus) or list(config.sweep.cpus)
    grid = parse_replicas(replicas or config.sweep.replicas)
    if not budgets and not grid:
        raise ConfigError("nothing to sweep: give --cpus 0.5,1 and/or --replicas SERVICE=1,2 "
                          "(or [sweep] cpus / replicas in bench.toml)")
    check_capacity_config(config.capacity)
    context = create_context(config, RunRequest(targets=targets))
    first = step_profile(config.capacity, config.capacity.start_rate)
    context = dataclasses.replace(context, profile=dataclasses.replace(first, name="sweep"))
    run_dir = run_sweep(context, budgets, grid)
    table = Table(title="sweep: capacity at the SLO per point")
    for column in ("point", "vCPU", "capacity (req/s)", "req/s per vCPU", "$ / million", "limited by"):
        table.add_column(column)
    for row in sweep_table(load_results(run_dir)):
        efficiency = row["efficiency_rps_per_vcpu"]
        usd = row["usd_per_million"]
        table.add_row(row["label"], f"{row['cpus']:g}", row["description"],
                      "–" if efficiency is None else f"{efficiency:.0f}",
                      "–" if usd is None else f"{usd:.3f}", row["limited_by"])
    context.console.print(table)
    exit_with_verdict(run_dir, allow_invalid)
