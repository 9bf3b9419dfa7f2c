"""``bench down``: remove every container an archbench run left behind (by label)."""

from __future__ import annotations

import click

from harness.cli import cli
from harness.errors import BenchError


def down(run_id: str | None = None) -> list[str]:
    """Remove all containers labelled ``archbench.run`` (or only run ``run_id``'s); names removed.

    Raises BenchError when no Docker engine answers (nothing to clean then).
    """
    from harness.backends.docker import ENGINE_ERRORS, _docker_client, down_all, remove_run

    try:
        client = _docker_client(timeout=30)
        client.ping()
    except ENGINE_ERRORS as error:
        raise BenchError(
            f"no Docker engine answers ({type(error).__name__}); nothing to remove. "
            "(The local backend's processes die with the harness.)"
        ) from None
    return remove_run(client, run_id) if run_id else down_all(client)


@cli.command("down")
@click.option("--run", "run_id", default=None, help="Remove only the containers of this run id.")
def down_command(run_id: str | None) -> None:
    """Remove every archbench container (of crashed or running runs)."""
    removed = down(run_id)
    if removed:
        click.echo(f"removed {len(removed)} container(s): " + ", ".join(sorted(removed)))
    else:
        click.echo("no archbench containers")
