"""Replicas: separate processes sharing a service's port; each serves, a killed one comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.registry import get_topology

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(240)]


async def _read_products(url: str, requests: int, concurrency: int = 32) -> int:
    """GET /products/{id} ``requests`` times over fresh connections; the count of 200s."""
    ok = 0

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal ok
        async with session.get(f"{url}/products?limit=5&offset={index % 3}") as response:
            ok += response.status == 200
            await response.read()

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for start in range(0, requests, concurrency):
            await asyncio.gather(*(one(session, i) for i in range(start, min(requests, start + concurrency))))
    return ok


def _cpu(deployment, name: str) -> float:  # type: ignore[no-untyped-def]
    return next(r.cpu_seconds for r in deployment.read_resources() if r.name == name)


def test_two_catalog_replicas_both_serve_and_a_killed_one_is_restarted(tmp_path: Path) -> None:
    settings = DeploySettings(run_id="replicas", workdir=tmp_path, restart_delay=0.5,
                              overrides={"catalog": {"replicas": 2}})
    with LocalBackend().up(get_topology("microservices"), settings) as deployment:
        names = [i.name for i in deployment.instances]
        assert "catalog-1" in names and "catalog-2" in names and "catalog" not in names
        assert deployment.service_urls["catalog-1"] == deployment.service_urls["catalog-2"]
        before = {name: _cpu(deployment, name) for name in ("catalog-1", "catalog-2")}
        assert asyncio.run(_read_products(deployment.url, 1500)) == 1500
        after = {name: _cpu(deployment, name) for name in ("catalog-1", "catalog-2")}
        grown = {name: after[name] - before[name] for name in before}
        for name in grown:  # the kernel spread the gateway's connections over both
            assert grown[name] > 0.2 * sum(grown.values()) > 0, (before, after)
        old = deployment.pids("catalog-1")[0]
        deployment.kill_service("catalog-1")
        assert asyncio.run(_read_products(deployment.url, 200)) >= 150  # catalog-2 carries on
        deadline = time.time() + 60
        while time.time() < deadline and not deployment.restarts():
            time.sleep(0.2)
        assert [r.name for r in deployment.restarts()] == ["catalog-1"]
        assert deployment.pids("catalog-1")[0] != old
        assert asyncio.run(_read_products(deployment.url, 300)) == 300
