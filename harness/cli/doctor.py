"""``bench doctor``: print what this machine offers each backend (``harness.doctor``), exit 2 if blocked."""

from __future__ import annotations

import click

from harness.cli import cli
from harness.cli.options import CONFIG_OPTION
from harness.config import load_config
from harness.doctor import blocking, doctor_checks, format_checks
from harness.errors import BenchError


@cli.command("doctor")
@CONFIG_OPTION
def doctor_command(config_path: str | None) -> None:
    """Report what is available (engine, images, binaries, cores, generator) and how to fix gaps.

    Exit status 2 when a problem blocks every run (a CPU set this machine lacks, no load
    generator, no backend that can run); 0 when there are only warnings.
    """
    config = load_config(config_path, check_cpus=False)  # the CPU sets are one of the checks
    findings = doctor_checks(config)
    click.echo(format_checks(findings))
    blockers = blocking(findings)
    if blockers:
        names = ", ".join(finding.name for finding in blockers)
        raise BenchError(f"{len(blockers)} blocking problem(s): {names} (see the fixes above)")
