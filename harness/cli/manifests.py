"""``bench manifests TARGET --out DIR``: Kubernetes manifests from the target's topology."""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.cli import cli
from harness.manifests import (
    ManifestOptions,
    entry_service,
    generate_secrets,
    manifest_files,
    render_manifests,
)
from harness.registry import get_topology
from harness.results import write_atomic


@cli.command("manifests")
@click.argument("target")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              envvar="BENCH_MANIFESTS_OUT", help="Directory for the YAML files.  [env: BENCH_MANIFESTS_OUT]")
@click.option("--image", default=ManifestOptions.image, show_default=True, envvar="BENCH_IMAGE",
              help="The targets image the services run (build and push it first).  [env: BENCH_IMAGE]")
@click.option("--postgres-image", default=ManifestOptions.postgres_image, show_default=True,
              envvar="BENCH_POSTGRES_IMAGE", help="PostgreSQL image.  [env: BENCH_POSTGRES_IMAGE]")
@click.option("--nats-image", default=ManifestOptions.nats_image, show_default=True,
              envvar="BENCH_NATS_IMAGE", help="NATS image.  [env: BENCH_NATS_IMAGE]")
@click.option("--storage", default=ManifestOptions.storage, show_default=True, envvar="BENCH_STORAGE",
              help="Size of each volume claim.  [env: BENCH_STORAGE]")
def manifests_command(target: str, out: Path, image: str, postgres_image: str, nats_image: str,
                      storage: str) -> None:
    """Write TARGET's Kubernetes manifests to DIR (secrets generated now, in 00-secrets.yaml)."""
    write_manifests(target, out, ManifestOptions(image=image, postgres_image=postgres_image,
                                                 nats_image=nats_image, storage=storage))


def write_manifests(target: str, out: Path, options: ManifestOptions) -> list[Path]:
    """Render ``target`` with fresh secrets and write its files to ``out`` (secrets: mode 0600)."""
    topology = get_topology(target)
    files = manifest_files(topology, render_manifests(topology, options, generate_secrets(topology)))
    written = []
    for name, text in files.items():
        path = out / name
        write_atomic(path, text)
        if name.startswith("00-secrets"):
            os.chmod(path, 0o600)
        written.append(path)
    click.echo(f"wrote {len(written)} files to {out}; then: kubectl apply -f {out} && kubectl "
               f"port-forward service/{entry_service(topology)} 8080:8080  (admin password: "
               f"kubectl get secret {target}-secrets -o jsonpath='{{.data.admin-password}}' | base64 -d)")
    return written
