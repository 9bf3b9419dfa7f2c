"""``bench compare RUN_DIR RUN_DIR [...]``: deltas between runs and their config differences."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.report.compare import write_comparison


@cli.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, envvar="BENCH_COMPARE_OUT",
              help="Directory for compare.html and compare.md (default: compare/ next to the first run).")
def compare_command(run_dirs: tuple[Path, ...], out_dir: Path | None) -> None:
    """Compare two or more runs against the first: throughput, percentiles, errors, cost, config."""
    for path in write_comparison(list(run_dirs), out_dir):
        click.echo(f"wrote {path}")
