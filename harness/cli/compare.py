"""``bench compare RUN_DIR RUN_DIR [...]``: deltas between runs and their config differences."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from harness.cli import cli
from harness.errors import BenchError
from harness.report.compare import build_compare_tables, compare_run_dirs, write_compared


@cli.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, envvar="BENCH_COMPARE_OUT",
              help="Directory for compare.html and compare.md (default: compare/ next to the first run).")
def compare_command(run_dirs: tuple[Path, ...], out_dir: Path | None) -> None:
    """Compare two or more runs against the first: throughput, percentiles, errors, cost, config.

    Prints the comparison, writes compare.html and compare.md, and exits 2 when no
    target has measurements in two of the runs (an empty or interrupted run).
    """
    comparison = compare_run_dirs(list(run_dirs))
    console = Console(highlight=False)
    for table in build_compare_tables(comparison):
        console.print(table)
    for text in comparison["warnings"]:
        click.secho(f"warning: {text}", fg="yellow", err=True)
    for path in write_compared(comparison, list(run_dirs), out_dir):
        click.echo(f"wrote {path}")
    if not comparison["comparable"]:
        raise BenchError("nothing to compare: no target has measurements in two of the runs "
                         f"({', '.join(str(d) for d in run_dirs)})")
