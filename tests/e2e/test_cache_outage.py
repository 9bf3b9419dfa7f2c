"""A Redis outage under product reads: only 200s, and no stale stock once Redis is back.

Each cached target (monolith-redis, microservices-redis) is started on the local backend;
readers hammer ``GET /products/{id}`` and ``GET /products`` while Redis is SIGKILLed, an
order is confirmed during the outage, and Redis is started again (empty: no persistence).
Every read must answer 200, and the first read after the restart shows the order's stock.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from helpers.deploy import deploy

from harness.seed import admin_token

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(240)]

READERS = 8
OUTAGE_S = 3.0  # seconds Redis stays down while the readers go on


async def _post(session: aiohttp.ClientSession, url: str, body: dict, token: str = "") -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as response:
        assert response.status in (200, 201), f"POST {url}: {response.status} {await response.text()}"
        return dict(await response.json())


async def _read_loop(session: aiohttp.ClientSession, base: str, product_id: int,
                     stop: asyncio.Event, statuses: Counter[int]) -> None:
    paths = (f"/products/{product_id}", "/products?limit=20&offset=0")
    index = 0
    while not stop.is_set():
        async with session.get(base + paths[index % 2]) as response:
            await response.read()
            statuses[response.status] += 1
        index += 1


async def _outage(base: str, admin: tuple[str, str], kill: object, start: object) -> dict:
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        token = await admin_token(session, base, *admin)
        product = await _post(session, f"{base}/products",
                              {"name": "outage", "price_cents": 100, "stock": 50}, token)
        await _post(session, f"{base}/users", {"username": "outage_user", "password": "pw-123456789"})
        user = (await _post(session, f"{base}/login",
                            {"username": "outage_user", "password": "pw-123456789"}))["token"]
        stop = asyncio.Event()
        readers = [asyncio.create_task(_read_loop(session, base, product["id"], stop, statuses))
                   for _ in range(READERS)]
        await asyncio.sleep(1.0)  # warm: the product and the page are cached
        before = sum(statuses.values())
        await asyncio.to_thread(kill)  # type: ignore[arg-type]
        started = time.monotonic()
        order = await _post(session, f"{base}/orders",
                            {"items": [{"product_id": product["id"], "quantity": 7}]}, user)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
        during = sum(statuses.values()) - before
        await asyncio.to_thread(start)  # type: ignore[arg-type]
        await asyncio.sleep(2.5)  # the breaker closes, owed invalidations and counts are flushed
        stop.set()
        await asyncio.gather(*readers)
        async with session.get(f"{base}/products/{product['id']}") as response:
            after = await response.json()
        async with session.get(f"{base}/stats", headers={"Authorization": f"Bearer {token}"}) as r:
            stats = await r.json()
    return {"statuses": statuses, "during": during, "order": order, "after": after,
            "stats": stats}


@pytest.mark.parametrize(("target", "reader"), [("monolith-redis", "app"),
                                                ("microservices-redis", "catalog")])
def test_reads_survive_a_redis_kill(tmp_path: Path, target: str, reader: str) -> None:
    with deploy(target, tmp_path, workers=2) as deployed:
        deployment = deployed.deployment
        outcome = asyncio.run(_outage(
            deployment.url, (deployment.admin_username, deployment.admin_password),
            lambda: deployment.kill_service("redis"), lambda: deployment.start_service("redis"),
        ))
        log = deployment.logs(reader, 20)
    statuses = outcome["statuses"]
    assert set(statuses) == {200}, f"{target}: answers {dict(statuses)}\n{log}"
    assert outcome["during"] > 20, f"{target}: only {outcome['during']} reads during the outage"
    assert outcome["order"]["status"] == "confirmed"
    assert outcome["after"]["stock"] == 43, f"{target}: stale stock after the outage: {outcome['after']}"
    cache = outcome["stats"]["cache"]
    assert cache["kind"] == "redis" and cache["hits"] > 0 and cache["bypassed"] > 0, cache
