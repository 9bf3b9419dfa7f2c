"""First data point for the performance goals: wrk on GET /products/{id}, per target.

Usage: .venv/bin/python benchmarks/wrk_product.py [--seconds 10] [--connections 32] [TARGET...]

Each target starts on the local backend with ONE worker process per service, pinned
(with its PostgreSQL and NATS) to --target-cpus; wrk runs pinned to --wrk-cpus, so
generator and target do not share a core. One product is created through the API,
then wrk reads it for --seconds. Prints requests/s and wrk's p50/p99 (ms) per target.
Needs Debian's ``wrk`` (apt-get install wrk). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.registry import TARGETS

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _post(url: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def parse_wrk(output: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def percentile(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()  # type: ignore[union-attr]
        return float(value) * _UNIT_MS[unit]

    return rps, percentile("50"), percentile("99")


def measure(target: str, seconds: int, connections: int, target_cpus: str, wrk_cpus: str) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="archbench-wrk-"))
    workdir.chmod(0o711)
    try:
        settings = DeploySettings(run_id="wrk", workdir=workdir, target_cpus=target_cpus,
                                  workers=1, health_timeout=120)
        with LocalBackend().up(TARGETS[target], settings) as deployment:
            token = _post(f"{deployment.url}/login", {"username": deployment.admin_username,
                                                     "password": deployment.admin_password})["token"]
            product = _post(f"{deployment.url}/products",
                            {"name": "wrk probe", "price_cents": 1999, "stock": 10},
                            token=str(token))
            url = f"{deployment.url}/products/{product['id']}"
            run = subprocess.run(
                ["taskset", "-c", wrk_cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                 "--latency", url],
                capture_output=True, text=True, check=True, timeout=seconds + 60,
            )
            rps, p50, p99 = parse_wrk(run.stdout)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", run.stdout)
            bad = f", non-2xx {errors.group(1)}" if errors else ""
            return f"{target:<14} {rps:>9.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms{bad}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--target-cpus", default="1")
    parser.add_argument("--wrk-cpus", default="0")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    print(f"GET /products/{{id}}, {args.seconds}s, {args.connections} connections, "
          f"target on cpus {args.target_cpus}, wrk on cpus {args.wrk_cpus}, 1 worker per service")
    for target in args.targets:
        print(measure(target, args.seconds, args.connections, args.target_cpus, args.wrk_cpus),
              flush=True)


if __name__ == "__main__":
    main()
