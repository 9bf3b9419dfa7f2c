"""Seconds from ``backend.up()`` to the first answered request, per target, docker vs local.

For each target and backend: the time from calling ``up()`` until ``GET /products``
on the entry service answered 200 (every service healthy first), the per-instance
breakdown, and the teardown time. The docker targets image is made current
before timing (its build time is measured by ``docker_build.py``).

Usage: .venv/bin/python benchmarks/docker_startup.py [--repeat N] [--backends docker,local] [TARGET...]
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.backends import get_backend
from harness.backends.base import DeploySettings
from harness.config import load_config
from harness.registry import TARGETS, get_topology

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def first_request_seconds(
    backend_name: str, target: str, workdir: Path
) -> tuple[float, float, dict[str, float]]:
    """(seconds up() -> first 200 on GET /products, teardown seconds, per-instance startup)."""
    config = load_config()
    backend = get_backend(backend_name, config)
    settings = DeploySettings(
        run_id=f"bench-startup-{secrets.token_hex(3)}",
        workdir=workdir,
        target_cpus=config.cpu.target_cpus,
    )
    started = time.monotonic()
    with backend.up(get_topology(target), settings) as deployment:
        with _OPENER.open(deployment.url + "/products", timeout=10) as response:
            assert response.status == 200
        first = time.monotonic() - started
        breakdown = dict(getattr(deployment, "startup_seconds", {}))
        stopping = time.monotonic()
    return first, time.monotonic() - stopping, breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="docker,local")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "docker" in backends:
        get_backend("docker", load_config()).prepare()  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="archbench-startup-") as tmp:
        for target in args.targets:
            for backend in backends:
                runs = [
                    first_request_seconds(backend, target, Path(tmp)) for _ in range(args.repeat)
                ]
                firsts = sorted(r[0] for r in runs)
                median_run = min(runs, key=lambda r: abs(r[0] - statistics.median(firsts)))
                detail = " ".join(f"{k}={v:.1f}" for k, v in median_run[2].items())
                print(
                    f"{target:<14} {backend:<7} first request median {statistics.median(firsts):5.1f}s "
                    f"(min {firsts[0]:.1f}, max {firsts[-1]:.1f}); teardown {median_run[1]:.1f}s; {detail}"
                )


if __name__ == "__main__":
    main()
