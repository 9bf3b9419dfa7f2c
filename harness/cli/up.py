"""``bench up TARGET``: start one target, print where it is, keep it up until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal

import click

from harness.cli import cli
from harness.cli.options import BACKEND_OPTION, CONFIG_OPTION, config_overrides
from harness.config import load_config
from harness.context import install_interrupt_handlers
from harness.verify import format_deployment, start_target


@cli.command("up")
@click.argument("target")
@BACKEND_OPTION
@CONFIG_OPTION
def up_command(target: str, backend: str | None, config_path: str | None) -> None:
    """Start TARGET and keep it running until Ctrl-C (everything is torn down then)."""
    # Ctrl-C must stop us even when started in the background (where SIGINT starts ignored).
    install_interrupt_handlers()
    config = load_config(
        config_path, overrides=config_overrides(click.get_current_context(), {"run.backend": "backend"}))
    with start_target(config, target, config.run.backend) as (deployment, reason, _):
        click.echo(format_deployment(deployment, reason))
        click.echo("Press Ctrl-C to stop and clean up.")
        while True:
            signal.pause()  # Ctrl-C / SIGTERM raise KeyboardInterrupt: the with block tears down
