"""How long an event-driven order stays ``pending``, measured.

Starts the event-driven target with the local backend and measures two things:

1. *Idle*: orders placed one at a time; for each, the client-observed time from
   sending ``POST /orders`` to the first ``GET /orders/{id}`` (polled every 5 ms)
   that shows a final status, and the 202 latency itself (ms).
2. *Under load*: ``--clients`` concurrent clients place orders for ``--seconds``;
   then the script waits until every acknowledged order is final and reads the
   server-side time-to-final (``orders.updated_at - orders.created_at``, ms:
   api insert to projector update) of every acknowledged order from PostgreSQL.
   It also checks integrity: no acknowledged order missing or still pending, and
   ``stock_total + units_sold`` conserved.
3. *Consumer throughput*: with ``inventory`` stopped, ``--backlog`` orders are
   placed; then ``inventory`` is started again and the time until all of them
   are final gives the consumers' drain rate (orders/s) without api load.

Usage: ``.venv/bin/python benchmarks/event_driven_time_to_final.py [--seconds 10] [--clients 16]``
All traffic goes to 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from targets.event_driven.topology import TOPOLOGY

PRODUCTS = 20
STOCK = 1_000_000  # units per product: never the bottleneck
IDLE_ORDERS = 20
SETTLE_TIMEOUT_S = 60.0  # seconds to wait for the backlog to become final


async def _json(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as response:
        return response.status, await response.json(content_type=None)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    array = np.array(values)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return (
        f"n={len(values)} p50={p50:.1f}ms p95={p95:.1f}ms p99={p99:.1f}ms max={array.max():.1f}ms"
    )


async def measure(url: str, database_url: str, admin: tuple[str, str], seconds: float,
                  clients: int) -> tuple[dict[str, str], list[int]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients + 4)) as session:
        _, body = await _json(
            session, "POST", f"{url}/login", json={"username": admin[0], "password": admin[1]}
        )
        admin_auth = {"Authorization": f"Bearer {body['token']}"}
        username = f"bench{uuid.uuid4().hex[:8]}"
        await _json(session, "POST", f"{url}/users",
                    json={"username": username, "password": "benchmark-pw"})
        _, body = await _json(session, "POST", f"{url}/login",
                              json={"username": username, "password": "benchmark-pw"})
        auth = {"Authorization": f"Bearer {body['token']}"}
        ids = []
        for n in range(PRODUCTS):
            status, product = await _json(
                session, "POST", f"{url}/products", headers=admin_auth,
                json={"name": f"bench-{n}", "price_cents": 100 + n, "stock": STOCK},
            )
            assert status == 201, product
            ids.append(product["id"])
        _, before = await _json(session, "GET", f"{url}/stats", headers=admin_auth)
        rng = random.Random(7)

        def order_body() -> dict[str, Any]:
            chosen = rng.sample(ids, rng.randint(1, 3))
            return {"items": [{"product_id": p, "quantity": rng.randint(1, 3)} for p in chosen]}

        # 1. idle: one order at a time, client-observed
        accept_ms: list[float] = []
        final_ms: list[float] = []
        for _ in range(IDLE_ORDERS):
            start = time.perf_counter()
            status, placed = await _json(session, "POST", f"{url}/orders", headers=auth,
                                         json=order_body())
            assert status == 202, placed
            accept_ms.append((time.perf_counter() - start) * 1000)
            while True:
                _, order = await _json(session, "GET", f"{url}/orders/{placed['id']}", headers=auth)
                if order["status"] != "pending":
                    final_ms.append((time.perf_counter() - start) * 1000)
                    break
                await asyncio.sleep(0.005)
        print(f"idle   202 latency:          {_percentiles(accept_ms)}")
        print(f"idle   POST -> final (client): {_percentiles(final_ms)}")

        # 2. under load
        acknowledged: list[str] = []
        load_accept_ms: list[float] = []
        errors = 0
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                start = time.perf_counter()
                status, placed = await _json(session, "POST", f"{url}/orders", headers=auth,
                                             json=order_body())
                load_accept_ms.append((time.perf_counter() - start) * 1000)
                if status == 202:
                    acknowledged.append(placed["id"])
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - started
        print(f"load   {clients} clients {elapsed:.1f}s: {len(acknowledged)} acknowledged "
              f"({len(acknowledged) / elapsed:.1f}/s), {errors} errors")
        print(f"load   202 latency:          {_percentiles(load_accept_ms)}")

    conn = await asyncpg.connect(database_url)
    try:
        order_ids = [uuid.UUID(i) for i in acknowledged]
        settle_start = time.monotonic()
        while True:
            pending = await conn.fetchval(
                "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status = 'pending'",
                order_ids,
            )
            if pending == 0 or time.monotonic() - settle_start > SETTLE_TIMEOUT_S:
                break
            await asyncio.sleep(0.1)
        rows = await conn.fetch(
            "SELECT status, extract(epoch FROM updated_at - created_at) * 1000 AS ms "
            "FROM orders WHERE id = ANY($1::uuid[])",
            order_ids,
        )
        stock_total, units_sold = await conn.fetchrow(
            "SELECT (SELECT sum(stock) FROM products), (SELECT coalesce(sum(i.quantity), 0) "
            "FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed')"
        )
    finally:
        await conn.close()
    final = [float(r["ms"]) for r in rows if r["status"] != "pending"]
    print(f"load   insert -> final (server): {_percentiles(final)}")
    print(
        f"integrity: acknowledged={len(order_ids)} found={len(rows)} "
        f"still_pending={len(rows) - len(final)} "
        f"backlog_drained_in={time.monotonic() - settle_start:.1f}s "
        f"conserved={before['stock_total'] + before['units_sold'] == stock_total + units_sold}"
    )
    return auth, ids


async def place_backlog(url: str, auth: dict[str, str], bodies: list[dict[str, Any]]) -> list[str]:
    """Place every order (16 at a time); returns the acknowledged ids."""
    ids: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def place(body: dict[str, Any]) -> None:
            status, placed = await _json(session, "POST", f"{url}/orders", headers=auth, json=body)
            assert status == 202, placed
            ids.append(placed["id"])

        for start in range(0, len(bodies), 16):
            await asyncio.gather(*(place(b) for b in bodies[start : start + 16]))
    return ids


async def wait_all_final(database_url: str, ids: list[str]) -> float:
    """Seconds until none of ``ids`` is pending (polled every 10 ms)."""
    order_ids = [uuid.UUID(i) for i in ids]
    conn = await asyncpg.connect(database_url)
    started = time.monotonic()
    try:
        while await conn.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status = 'pending'",
            order_ids,
        ):
            assert time.monotonic() - started < SETTLE_TIMEOUT_S, "backlog did not drain"
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per service")
    parser.add_argument("--backlog", type=int, default=1000, help="orders for the drain phase")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep service logs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ed-") as workdir:
        settings = DeploySettings(
            run_id="ed-time-to-final", workdir=Path(workdir), workers=args.workers
        )
        with LocalBackend(log_dir=args.log_dir).up(TOPOLOGY, settings) as deployment:
            port = deployment.service_urls["postgres"].rsplit(":", 1)[1]
            database_url = f"postgresql://bench:{settings.db_password}@127.0.0.1:{port}/shop"
            admin = (deployment.admin_username, deployment.admin_password)
            auth, product_ids = asyncio.run(
                measure(deployment.url, database_url, admin, args.seconds, args.clients)
            )
            deployment.stop_service("inventory")
            rng = random.Random(11)
            bodies = [
                {"items": [{"product_id": rng.choice(product_ids), "quantity": 1}]}
                for _ in range(args.backlog)
            ]
            ids = asyncio.run(place_backlog(deployment.url, auth, bodies))
            deployment.start_service("inventory")
            cpu_before = {r.name: r.cpu_seconds for r in deployment.read_resources()}
            drained_s = asyncio.run(wait_all_final(database_url, ids))
            cpu_after = {r.name: r.cpu_seconds for r in deployment.read_resources()}
            print(
                f"drain  {len(ids)} queued orders final in {drained_s:.2f}s after inventory "
                f"became healthy: {len(ids) / drained_s:.0f} orders/s"
            )
            used = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
            print(
                "drain  CPU ms per order: "
                + " ".join(f"{name}={1000 * cpu / len(ids):.2f}" for name, cpu in used.items())
            )


if __name__ == "__main__":
    main()
