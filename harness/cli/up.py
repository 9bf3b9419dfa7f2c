"""``bench up TARGET``: start one target, print where it is, keep it up until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal

import click

from harness.cli import cli
from harness.config import BACKENDS, load_config
from harness.verify import format_deployment, start_target


@cli.command("up")
@click.argument("target")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, envvar="BENCH_BACKEND",
              help="Backend (default: run.backend of the config).  [env: BENCH_BACKEND]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="BENCH_CONFIG", help="Configuration file (default: bench.toml).  [env: BENCH_CONFIG]")
def up_command(target: str, backend: str | None, config_path: str | None) -> None:
    """Start TARGET and keep it running until Ctrl-C (everything is torn down then)."""
    # Ctrl-C must stop us even when started in the background (where SIGINT starts ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = load_config(config_path, overrides={"run.backend": backend})
    with start_target(config, target, config.run.backend) as (deployment, reason, _):
        click.echo(format_deployment(deployment, reason))
        click.echo("Press Ctrl-C to stop and clean up.")
        while True:
            signal.pause()  # Ctrl-C / SIGTERM raise KeyboardInterrupt: the with block tears down
