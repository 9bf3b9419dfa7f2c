"""What the keep-alive pools of the microservices target save, measured.

Starts the microservices target twice with the local backend: once with the
default pools (``HTTP_KEEPALIVE_S=30``) and once with pooling off
(``HTTP_KEEPALIVE_S=0``: a new TCP connection for every gateway->service and
orders->catalog call). Each time it seeds products, then runs a fixed number
of concurrent clients for a bounded time, each looping over ``GET
/products/{id}`` and ``POST /orders`` through the gateway, and prints
requests/s and latency percentiles (ms) per endpoint. Afterwards it checks
integrity: every 201 order is readable and ``stock_total + units_sold`` is
unchanged.

Usage: ``.venv/bin/python benchmarks/microservices_keepalive.py [--seconds 10] [--clients 16] [--rounds 1]``
All traffic goes to 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.topology import Topology
from targets.microservices.topology import TOPOLOGY

PRODUCTS = 50
STOCK = 1_000_000  # units per product: never the bottleneck


def with_env(topology: Topology, env: dict[str, str]) -> Topology:
    """``topology`` with ``env`` added to every service's environment."""
    services = tuple(dataclasses.replace(s, env={**s.env, **env}) for s in topology.services)
    return dataclasses.replace(topology, services=services)


async def _json(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as response:
        return response.status, await response.json(content_type=None)


async def drive(url: str, admin: tuple[str, str], seconds: float, clients: int) -> dict[str, Any]:
    """Seed, load for ``seconds``, check integrity; returns the figures."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        _, body = await _json(
            session, "POST", f"{url}/login", json={"username": admin[0], "password": admin[1]}
        )
        auth = {"Authorization": f"Bearer {body['token']}"}
        ids = []
        for n in range(PRODUCTS):
            status, product = await _json(
                session, "POST", f"{url}/products", headers=auth,
                json={"name": f"bench-{n}", "price_cents": 100 + n, "stock": STOCK},
            )
            assert status == 201, product
            ids.append(product["id"])
        _, before = await _json(session, "GET", f"{url}/stats", headers=auth)
        latencies: dict[str, list[float]] = {"view_product": [], "place_order": []}
        errors = {"view_product": 0, "place_order": 0}
        placed: list[str] = []
        rng = random.Random(7)
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                product = rng.choice(ids)
                for name, method, path, payload in (
                    ("view_product", "GET", f"/products/{product}", None),
                    ("place_order", "POST", "/orders",
                     {"items": [{"product_id": product, "quantity": rng.randint(1, 3)}]}),
                ):
                    start = time.perf_counter()
                    status, answer = await _json(
                        session, method, url + path, json=payload, headers=auth
                    )
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    if status not in (200, 201):
                        errors[name] += 1
                    elif name == "place_order":
                        placed.append(answer["id"])

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - started
        _, after = await _json(session, "GET", f"{url}/stats", headers=auth)
        missing = 0
        for order_id in placed[:: max(1, len(placed) // 200)]:  # a sample of 200 at most
            status, _ = await _json(session, "GET", f"{url}/orders/{order_id}", headers=auth)
            missing += status != 200
    result: dict[str, Any] = {"elapsed_s": elapsed, "endpoints": {}}
    for name, values in latencies.items():
        array = np.array(values)
        result["endpoints"][name] = {
            "count": len(values),
            "errors": errors[name],
            "rps": len(values) / elapsed,
            "p50_ms": float(np.percentile(array, 50)),
            "p95_ms": float(np.percentile(array, 95)),
            "p99_ms": float(np.percentile(array, 99)),
        }
    result["conserved"] = (
        before["stock_total"] + before["units_sold"] == after["stock_total"] + after["units_sold"]
    )
    result["confirmed_delta"] = after["orders"]["confirmed"] - before["orders"]["confirmed"]
    result["acknowledged"] = len(placed)
    result["sampled_missing"] = missing
    return result


def run_variant(label: str, env: dict[str, str], seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ms-") as workdir:
        settings = DeploySettings(run_id=f"keepalive-{label}", workdir=Path(workdir))
        with LocalBackend().up(with_env(TOPOLOGY, env), settings) as deployment:
            admin = (deployment.admin_username, deployment.admin_password)
            result = asyncio.run(drive(deployment.url, admin, seconds, clients))
    print(f"== {label} ({', '.join(f'{k}={v}' for k, v in env.items())}), "
          f"{clients} clients, {result['elapsed_s']:.1f} s")
    for name, figures in result["endpoints"].items():
        print(
            f"  {name:13s} n={figures['count']:6d} err={figures['errors']:3d} "
            f"rps={figures['rps']:7.1f} p50={figures['p50_ms']:6.1f}ms "
            f"p95={figures['p95_ms']:6.1f}ms p99={figures['p99_ms']:6.1f}ms"
        )
    print(
        f"  integrity: acknowledged={result['acknowledged']} "
        f"confirmed_delta={result['confirmed_delta']} conserved={result['conserved']} "
        f"sampled_missing={result['sampled_missing']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per variant")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the variants this many times (noise)"
    )
    args = parser.parse_args()
    for _ in range(args.rounds):
        run_variant("pooled", {"HTTP_KEEPALIVE_S": "30"}, args.seconds, args.clients)
        run_variant("no-pool", {"HTTP_KEEPALIVE_S": "0"}, args.seconds, args.clients)


if __name__ == "__main__":
    main()
