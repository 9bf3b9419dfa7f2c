"""``bench report RUN_DIR``: rebuild index.html and summary.md from a run's results.json."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.report import write_run_reports


@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path), default=Path("reports/latest"),
                envvar="BENCH_RUN_DIR")
def report_command(run_dir: Path) -> None:
    """Rebuild the HTML and Markdown reports of RUN_DIR (default: reports/latest)."""
    for path in write_run_reports(run_dir):
        click.echo(f"wrote {path}")
