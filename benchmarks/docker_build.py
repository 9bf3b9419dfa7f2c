"""Seconds to get the docker backend's images: stand-ins (.ci/docker-setup.sh) and the targets image.

Measures, in this order:

1. ``bash .ci/docker-setup.sh`` as it is now (cached when the stand-ins exist: ~1 s);
2. with ``--cold-targets``: the targets image with no layer cache (its tag removed
   first; refused while a container uses it), i.e. ``pip install`` of every
   dependency from the registry inside the build;
3. the targets image after a source change (a throwaway file under ``targets/``
   changes the sources hash; the dependency layer is reused);
4. the targets image when current (the check alone).

The stand-ins' cold time (debootstrap + import) is printed by the setup script itself
on a machine without them (``[docker-setup +Ns]`` lines); run it after
``docker rmi python:3.11-slim postgres:16 nats:2.10`` and removing /var/cache/archbench.

Usage: .venv/bin/python benchmarks/docker_build.py [--cold-targets]
"""

from __future__ import annotations

import argparse
import subprocess
import time
import uuid
from pathlib import Path

import docker.errors

from harness.backends._docker_image import PROJECT_ROOT, ensure_targets_image
from harness.backends.docker import _docker_client
from harness.config import load_config


def timed(label: str, function: object) -> float:
    started = time.monotonic()
    function()  # type: ignore[operator]
    seconds = time.monotonic() - started
    print(f"{label:<48} {seconds:7.2f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-targets", action="store_true",
                        help="remove the targets image first (a full dependency install)")
    args = parser.parse_args()
    config = load_config().docker
    client = _docker_client(timeout=config.build_timeout)
    setup = ["bash", str(PROJECT_ROOT / ".ci" / "docker-setup.sh")]
    timed("stand-ins: .ci/docker-setup.sh (as is)", lambda: subprocess.run(setup, check=True))

    def build() -> None:
        ensure_targets_image(client, config.image_tag, config.python_image, config.build_timeout)

    if args.cold_targets:
        try:
            client.images.remove(config.image_tag)
        except docker.errors.ImageNotFound:
            pass
        timed("targets image: cold (no layer cache)", build)
    marker = PROJECT_ROOT / "targets" / f"_bench_marker_{uuid.uuid4().hex}.txt"
    try:
        marker.write_text("changes the sources hash\n")
        timed("targets image: sources changed (deps cached)", build)
    finally:
        marker.unlink(missing_ok=True)
    timed("targets image: rebuilt back without the marker", build)
    timed("targets image: current (check only)", build)
    print(f"image size: {client.images.get(config.image_tag).attrs['Size'] / 2**20:.0f} MiB "
          f"({Path(config.image_tag).name})")


if __name__ == "__main__":
    main()
