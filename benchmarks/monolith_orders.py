"""Monolith ``POST /orders`` throughput and latency, with and without row contention.

Starts the monolith with the local backend and, for each scenario, runs
``--clients`` concurrent clients placing 1-unit orders for ``--seconds``:

- *spread*: each order picks one of 50 products at random (little row contention);
- *hot*: every order hits the same product (every transaction waits for the
  previous one's row lock: the serialisation cost of the conditional update).

Prints orders/s, latency p50/p95/p99 (ms) and checks integrity afterwards:
every 201 order is readable and ``stock_total + units_sold`` is conserved.

Usage: ``.venv/bin/python benchmarks/monolith_orders.py [--seconds 5] [--clients 16] [--workers 2]``
All traffic goes to 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from targets.monolith.topology import TOPOLOGY

STOCK = 10_000_000  # units per product: stock never runs out


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as response:
        assert response.status < 300, (response.status, await response.text())
        return await response.json()


async def _scenario(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    product_ids: list[int],
    clients: int,
    seconds: float,
) -> tuple[int, list[float], list[str], int]:
    """(orders confirmed, latencies ms, order ids, non-201 answers)."""
    latencies: list[float] = []
    order_ids: list[str] = []
    failures = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def client() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            body = {"items": [{"product_id": random.choice(product_ids), "quantity": 1}]}
            started = time.perf_counter()
            async with session.post(f"{url}/orders", json=body, headers=headers) as response:
                answer = await response.json()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status == 201:
                order_ids.append(answer["id"])
            else:
                failures += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return len(order_ids), latencies, order_ids, failures


async def _run(url: str, admin: tuple[str, str], clients: int, seconds: float) -> None:
    connector = aiohttp.TCPConnector(limit=clients + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        login = {"username": admin[0], "password": admin[1]}
        admin_token = (await _json(session, "POST", f"{url}/login", json=login))["token"]
        auth = {"Authorization": f"Bearer {admin_token}"}
        products = [
            (
                await _json(
                    session,
                    "POST",
                    f"{url}/products",
                    headers=auth,
                    json={"name": f"bench-{i}", "price_cents": 100, "stock": STOCK},
                )
            )["id"]
            for i in range(50)
        ]
        user = {"username": f"bench_{random.randrange(10**9)}", "password": "bench-password"}
        await _json(session, "POST", f"{url}/users", json=user)
        token = (await _json(session, "POST", f"{url}/login", json=user))["token"]
        before = await _json(session, "GET", f"{url}/stats", headers=auth)
        total = 0
        all_ids: list[str] = []
        for name, ids in (("spread", products), ("hot", products[:1])):
            count, latencies, order_ids, failures = await _scenario(
                session, url, token, ids, clients, seconds
            )
            total += count
            all_ids.extend(order_ids)
            p50, p95, p99 = np.percentile(np.array(latencies), [50, 95, 99])
            print(
                f"{name:6s}: {count / seconds:8.1f} orders/s  p50={p50:.1f}ms p95={p95:.1f}ms "
                f"p99={p99:.1f}ms  non-201={failures}"
            )
        after = await _json(session, "GET", f"{url}/stats", headers=auth)
        conserved = (
            after["stock_total"] + after["units_sold"]
            == before["stock_total"] + before["units_sold"]
        )
        sold = after["units_sold"] - before["units_sold"]
        sample = random.sample(all_ids, min(200, len(all_ids)))
        readable = [
            (
                await _json(
                    session,
                    "GET",
                    f"{url}/orders/{oid}",
                    headers={"Authorization": f"Bearer {token}"},
                )
            )["status"]
            == "confirmed"
            for oid in sample
        ]
        print(
            f"integrity: {total} orders acknowledged, units_sold +{sold}, "
            f"stock conserved={conserved}, {sum(readable)}/{len(sample)} sampled orders readable"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        settings = DeploySettings(
            run_id="bench-monolith-orders", workdir=Path(workdir), workers=args.workers
        )
        with LocalBackend().up(TOPOLOGY, settings) as deployment:
            print(
                f"monolith, {args.workers} workers, {args.clients} clients, "
                f"{args.seconds:.0f} s per scenario"
            )
            asyncio.run(
                _run(
                    deployment.url,
                    (deployment.admin_username, deployment.admin_password),
                    args.clients,
                    args.seconds,
                )
            )


if __name__ == "__main__":
    main()
