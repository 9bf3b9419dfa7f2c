"""``bench verify``: hold targets (or a running server) to the HTTP contract."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from harness.cli import cli
from harness.cli.options import BACKEND_OPTION, CONFIG_OPTION, config_overrides
from harness.config import load_config
from harness.context import install_interrupt_handlers
from harness.errors import EXIT_FAILED, BenchError
from harness.verify import format_summary, render_checks, verify_targets, verify_url


@cli.command("verify")
@click.argument("targets", nargs=-1)
@BACKEND_OPTION
@CONFIG_OPTION
@click.option("--url", default=None, envvar="BENCH_URL",
              help="Check a running server at http://127.0.0.1:PORT instead of starting targets.")
@click.option("--admin-user", default="admin", show_default=True, envvar="BENCH_ADMIN_USER")
@click.option("--admin-password", default=None, envvar="BENCH_ADMIN_PASSWORD")
@click.option("--token-secret", default=None, envvar="BENCH_TOKEN_SECRET",
              help="The server's TOKEN_SECRET, for the forged/expired-token checks.")
def verify_command(
    targets: tuple[str, ...],
    backend: str | None,
    config_path: str | None,
    url: str | None,
    admin_user: str,
    admin_password: str | None,
    token_secret: str | None,
) -> None:
    """Start each TARGET (default: run.targets) and run the contract checks; exit 1 on a failure."""
    install_interrupt_handlers()  # even when started with SIGINT ignored (`cmd &` in a script)
    if url is not None:
        if targets:
            raise BenchError("give either TARGET names or --url, not both")
        if admin_password is None:
            raise BenchError("--url needs --admin-password (the server's ADMIN_PASSWORD)")
        results = [verify_url(url, admin_user, admin_password, token_secret=token_secret)]
    else:
        config = load_config(
            config_path, overrides=config_overrides(click.get_current_context(), {"run.backend": "backend"}))
        results = verify_targets(config, targets or config.run.targets, config.run.backend,
                                 announce=lambda line: click.echo(line, err=True))
    Console().print(render_checks(results))
    click.echo(format_summary(results))
    if not all(result.ok for result in results):
        sys.exit(EXIT_FAILED)
