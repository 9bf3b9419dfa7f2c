"""Pure parts of the microservices target: stats aggregation, pool settings, and the
gateway's health probe and header forwarding (in-process stand-ins for the services).

Order item validation is shared: tests/unit/test_common_validators.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from targets.common.config import ServiceConfigError, load_service_config
from targets.common.http import ApiError
from targets.microservices.gateway import _forwardable, aggregate_stats, create_app
from targets.microservices.reconcile import STORE_TIMEOUT_S, Confirmations, stale_after
from targets.microservices.upstream import (
    UpstreamSettings,
    load_upstream_settings,
    require_internal,
)


def test_stats_aggregate_into_the_contract_shape() -> None:
    stats = aggregate_stats(
        {"users": 3},
        {"products": 2, "stock_total": 90},
        {"orders": {"confirmed": 4}, "units_sold": 10},
    )
    assert stats == {
        "users": 3,
        "products": 2,
        "orders": {"pending": 0, "confirmed": 4, "rejected": 0},
        "stock_total": 90,
        "units_sold": 10,
    }


def test_upstream_settings_defaults_and_overrides() -> None:
    assert load_upstream_settings({}) == UpstreamSettings()
    settings = load_upstream_settings(
        {"HTTP_POOL_SIZE": "32", "HTTP_KEEPALIVE_S": "5", "UPSTREAM_TIMEOUT_S": "1.5"}
    )
    assert settings == UpstreamSettings(pool_size=32, keepalive_s=5.0, timeout_s=1.5)


@pytest.mark.parametrize(
    "env",
    [
        {"HTTP_POOL_SIZE": "0"},
        {"HTTP_KEEPALIVE_S": "soon"},
        {"HTTP_KEEPALIVE_S": "-1"},
        {"UPSTREAM_TIMEOUT_S": "-1"},
    ],
)
def test_bad_upstream_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ServiceConfigError, match=next(iter(env))):
        load_upstream_settings(env)


def test_sweep_waits_past_the_longest_a_handler_holds_a_reservation() -> None:
    assert stale_after(10.0) == 60
    longest_handler = 100.0 + STORE_TIMEOUT_S
    assert stale_after(100.0) > longest_handler


def test_confirmations_come_back_in_order_after_a_failed_batch() -> None:
    ids = [uuid.UUID(int=n) for n in range(5)]
    confirmations = Confirmations()
    for order_id in ids:
        confirmations.add(order_id)
    batch = confirmations.take(3)
    assert batch == ids[:3]
    confirmations.give_back(batch)  # the confirm call failed: retried first next round
    assert confirmations.take(10) == ids
    assert confirmations.take(10) == []


# --- gateway health: no load amplification, no stale "ok" after a failure --------------------


class _Downstream:
    """A stand-in service counting its /health calls; ``down`` makes everything 503."""

    def __init__(self) -> None:
        self.health_calls = 0
        self.down = False
        self.app = web.Application()
        self.app.add_routes([web.get("/health", self.health), web.get("/products", self.products)])

    async def health(self, request: web.Request) -> web.Response:
        self.health_calls += 1
        await asyncio.sleep(0.01)
        return web.json_response({"status": "ok"}, status=503 if self.down else 200)

    async def products(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "unavailable", "message": "m"}, status=503)


@pytest.fixture
async def gateway(aiohttp_client: Any) -> AsyncIterator[tuple[Any, dict[str, _Downstream]]]:
    services = {name: _Downstream() for name in ("users", "catalog", "orders")}
    servers = {name: TestServer(s.app, host="127.0.0.1") for name, s in services.items()}
    for server in servers.values():
        await server.start_server()
    env = {
        "PORT": "1",
        "TOKEN_SECRET": "t" * 40,
        "INTERNAL_SECRET": "i" * 40,
        **{f"{name.upper()}_URL": str(server.make_url("")) for name, server in servers.items()},
    }
    client = await aiohttp_client(create_app(load_service_config(env), UpstreamSettings()))
    yield client, services
    for server in servers.values():
        await server.close()


async def test_concurrent_gateway_health_requests_share_one_downstream_probe(
    gateway: tuple[Any, dict[str, _Downstream]],
) -> None:
    client, services = gateway
    answers = await asyncio.gather(*(client.get("/health") for _ in range(300)))
    assert [a.status for a in answers] == [200] * 300
    calls = [s.health_calls for s in services.values()]
    assert calls == [calls[0]] * 3 and 1 <= calls[0] <= 3, calls  # not 300 each


async def test_a_failed_forward_drops_the_cached_healthy_verdict(
    gateway: tuple[Any, dict[str, _Downstream]],
) -> None:
    client, services = gateway
    assert (await client.get("/health")).status == 200  # cached healthy for 1 s from here
    services["catalog"].down = True
    assert (await client.get("/products")).status == 503  # the gateway sees catalog fail...
    answer = await client.get("/health")  # ...and reports it at once
    assert answer.status == 503 and "catalog" in (await answer.json())["message"]
    services["catalog"].down = False
    assert (await client.get("/health")).status == 200  # a failure is never cached


def test_undecodable_header_bytes_are_not_forwarded() -> None:
    assert _forwardable("Bearer abc.def.ghi") and _forwardable("Bearer éé")
    assert not _forwardable(b"Bearer \xe9\xe9".decode("utf-8", "surrogateescape"))


def test_an_undecodable_internal_secret_is_403_not_a_crash() -> None:
    raw = b"\xe9\xff".decode("utf-8", "surrogateescape")
    request = SimpleNamespace(headers={"X-Internal-Secret": raw})
    with pytest.raises(ApiError) as error:
        require_internal(request, "the-secret")  # type: ignore[arg-type]
    assert error.value.status == 403
