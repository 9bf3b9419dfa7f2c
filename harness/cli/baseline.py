"""``bench baseline save RUN_DIR``: save a run as a committed baseline for the regression gate."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import CONFIG_OPTION, RUN_DIR_ARGUMENT
from harness.config import load_config
from harness.gate.baseline import save_baseline
from harness.gate.command import baselines_dir


@cli.group("baseline")
def baseline_group() -> None:
    """Baselines for the regression gate (small JSON files, meant to be committed)."""


@baseline_group.command("save")
@RUN_DIR_ARGUMENT
@click.option("--name", type=str, default=None, envvar="BENCH_BASELINE_NAME",
              help="Baseline name (default: the run's profile).  [env: BENCH_BASELINE_NAME]")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="BENCH_BASELINE_DIR",
              help="Directory (default: <run.out>/baselines, i.e. reports/baselines).  [env: BENCH_BASELINE_DIR]")
@CONFIG_OPTION
def baseline_save_command(
    run_dir: Path, name: str | None, directory: Path | None, config_path: str | None
) -> None:
    """Save RUN_DIR's statistics and noise histograms as a baseline for `bench gate --baseline`.

    An INVALID run (interrupted, generator-bound, ...) is refused with its reasons (exit 2).
    """
    config = load_config(config_path, check_cpus=False)  # starts nothing
    path = save_baseline(run_dir, directory or baselines_dir(config), name)
    click.echo(f"wrote {path} ({path.stat().st_size} bytes); gate with: bench gate RUN_DIR --baseline {path}")
