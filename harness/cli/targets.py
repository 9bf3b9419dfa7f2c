"""``bench targets``: list the reference targets, their services and entry points."""

from __future__ import annotations

import click

from harness.cli import cli
from harness.registry import TARGETS


def format_targets() -> str:
    """A plain-text table of every target's services (cpus, memory MiB, module)."""
    lines: list[str] = []
    for name, topology in TARGETS.items():
        infra = ", ".join(i.kind for i in topology.infra)
        lines.append(f"{name}: {topology.description}")
        lines.append(f"  entry: {topology.entry}    infrastructure: {infra}")
        for spec in topology.services:
            lines.append(
                f"  - {spec.name:<10} python -m {spec.module:<34} cpus={spec.cpus:<4} "
                f"memory={spec.memory_mb}MiB"
            )
    return "\n".join(lines)


@cli.command("targets")
def targets_command() -> None:
    """List targets, their services and entry points."""
    click.echo(format_targets())
