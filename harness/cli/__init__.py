"""The ``bench`` command line: thin click commands over plain functions.

Each sub-module defines commands on ``cli``; ``main`` turns ``BenchError`` into
a message and an exit code (2: could not run) and SIGINT/SIGTERM into
``harness.context.Interrupted`` (one clean-up path, naming the signal). Shared
options live in ``harness.cli.options``.
"""

from __future__ import annotations

import sys

import click

from harness.context import install_interrupt_handlers, interrupt_name
from harness.errors import BenchError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="archbench")
def cli() -> None:
    """archbench: measure monolith, microservices and event-driven backends under one load."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    install_interrupt_handlers()
    try:
        cli.main(args=argv, prog_name="bench", standalone_mode=False)
    except BenchError as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort as abort:
        # click turns a KeyboardInterrupt (our Interrupted too) into Abort "from" it
        if isinstance(abort.__cause__, KeyboardInterrupt):
            click.echo(f"interrupted ({interrupt_name(abort.__cause__)}): stopped and cleaned up", err=True)
        else:
            click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt as interrupt:
        click.echo(f"interrupted ({interrupt_name(interrupt)}): stopped and cleaned up", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(2)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)


# Sub-commands register themselves on ``cli`` when imported (explicit list, no discovery).
from harness.cli import baseline as _baseline  # noqa: E402,F401
from harness.cli import calibrate as _calibrate  # noqa: E402,F401
from harness.cli import capacity as _capacity  # noqa: E402,F401
from harness.cli import compare as _compare  # noqa: E402,F401
from harness.cli import doctor as _doctor  # noqa: E402,F401
from harness.cli import down as _down  # noqa: E402,F401
from harness.cli import gate as _gate  # noqa: E402,F401
from harness.cli import manifests as _manifests  # noqa: E402,F401
from harness.cli import report as _report  # noqa: E402,F401
from harness.cli import run as _run  # noqa: E402,F401
from harness.cli import sweep as _sweep  # noqa: E402,F401
from harness.cli import targets as _targets  # noqa: E402,F401
from harness.cli import up as _up  # noqa: E402,F401
from harness.cli import verify as _verify  # noqa: E402,F401
from harness.cli import worker as _worker  # noqa: E402,F401
