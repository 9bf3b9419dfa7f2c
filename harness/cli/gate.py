"""``bench gate RUN_DIR``: thresholds and regression checks over a run (thin: ``harness.gate.command``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import (
    BASELINE_OPTION,
    CONFIG_OPTION,
    JUNIT_OPTION,
    RUN_DIR_ARGUMENT,
    THRESHOLD_OPTION,
)
from harness.config import load_config
from harness.gate.command import gate_run


@cli.command("gate")
@RUN_DIR_ARGUMENT
@THRESHOLD_OPTION
@BASELINE_OPTION
@JUNIT_OPTION
@CONFIG_OPTION
def gate_command(
    run_dir: Path, thresholds: tuple[str, ...], baseline: str | None, junit: Path | None,
    config_path: str | None,
) -> None:
    """Check RUN_DIR (default: reports/latest) against thresholds and a baseline.

    Exit 0: every check passed; 1: a threshold or regression failed; 2: a check could not
    be evaluated (an INVALID run, too few requests, no samples, ...). Writes RUN_DIR/gate.json;
    with $GITHUB_STEP_SUMMARY set, a Markdown table is appended to it.
    """
    config = load_config(config_path, check_cpus=False)  # starts nothing: any machine may gate a run
    code = gate_run(run_dir, config, thresholds=thresholds or None, baseline=baseline, junit=junit)
    if junit is not None:
        click.echo(f"wrote {junit}")
    sys.exit(code)
