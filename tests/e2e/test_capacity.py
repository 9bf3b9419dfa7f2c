"""``bench capacity`` finds a known capacity: k slots of a fixed service time s serve k/s req/s.

A proxy in front of a real monolith answers ``GET /products/{id}`` through a semaphore of
``SLOTS`` with a fixed ``SERVICE_S`` of service time (capacity exactly SLOTS / SERVICE_S
requests/s; below it constant arrivals never queue, above it the queue grows without
bound) and forwards everything else (seeding, log-ins) untouched. The search must land
within 10 % of that capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from rich.console import Console

from harness.backends import deploy_settings, get_backend
from harness.capacity.runner import measure_capacity
from harness.config import load_config
from harness.context import RunRequest, create_context
from harness.registry import get_topology
from harness.results import load_results, schema_problems
from harness.run import run_benchmark

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(600)]

SLOTS = 4
SERVICE_S = 0.020
CAPACITY = SLOTS / SERVICE_S  # 200 requests/s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SESSION = web.AppKey("session", aiohttp.ClientSession)


def _proxy_app(upstream: str) -> web.Application:
    slots = asyncio.Semaphore(SLOTS)

    async def client(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    async def forward(request: web.Request) -> web.Response:
        if request.method == "GET" and request.path.startswith("/products/"):
            async with slots:  # k servers of a fixed service time
                await asyncio.sleep(SERVICE_S)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with request.app[SESSION].request(request.method, upstream + request.path_qs,
                                                  data=body or None, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@contextlib.contextmanager
def _serve(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 from a thread with its own event loop; yield its URL."""
    port = _free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_capacity_search_finds_a_known_capacity_within_ten_percent(tmp_path: Path) -> None:
    config = load_config(overrides={"run.out": str(tmp_path / "reports")})
    config = dataclasses.replace(
        config,
        scenario=dataclasses.replace(config.scenario, list_products=0, view_product=1, place_order=0,
                                     read_order=0, login=0),
        capacity=dataclasses.replace(config.capacity, slo=("p99 < 100ms",), start_rate=120.0,
                                     growth=1.5, tolerance=0.05, max_steps=10, step_duration=8.0,
                                     step_warmup=2.0),
    )
    settings = deploy_settings(config, "monolith", "cap", tmp_path / "deploy")
    with get_backend("local", config).up(get_topology("monolith"), settings) as deployment, \
            _serve(_proxy_app(deployment.url)) as proxy:
        request = RunRequest(url=proxy, name="slots", admin_user=deployment.admin_username,
                             admin_password=deployment.admin_password)
        run_dir = run_benchmark(create_context(config, request, Console(file=io.StringIO())),
                                measure=measure_capacity)
    results = load_results(run_dir)
    assert schema_problems(results) == []
    found = results["targets"]["slots"]["capacity"]
    rates = [(s["offered_rps"], s["verdict"], s["p99_ms"]) for s in found["steps"]]
    assert found["kind"] == "bracketed", (found["description"], rates)
    assert found["capacity_rps"] == pytest.approx(CAPACITY, rel=0.10), rates
    assert found["low_rps"] <= found["capacity_rps"] < found["high_rps"]
    assert all(s["dropped"] == 0 or s["verdict"] == "breaks" for s in found["steps"])
