"""Microservices-specific behaviour, against a real deployment (local backend, real PostgreSQL).

- catalog reservations are atomic, idempotent per order id, and released once;
- orders compensates: when storing the order fails (a real database fault,
  induced with a constraint the insert violates), the reservation is released;
- internal endpoints refuse callers without the internal secret;
- the gateway answers 503 ``unavailable`` (never a 500) while a service is down;
- each service has its own PostgreSQL server: one database outage stays local.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from helpers.deploy import deploy
from helpers.http import call as json_call

from harness.backends.base import DeploySettings
from harness.backends.lifecycle import ManagedDeployment

pytestmark = [pytest.mark.needs_postgres, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class Microservices:
    deployment: ManagedDeployment
    settings: DeploySettings
    gateway: str  # base URL of the entry service
    catalog: str  # base URL of the catalog service (internal endpoints)
    users: str
    orders: str

    def database_url(self, name: str) -> str:
        port = self.deployment.service_urls[f"{name}-db"].rsplit(":", 1)[1]  # a server each
        return f"postgresql://bench:{self.settings.db_password}@127.0.0.1:{port}/{name}"

    @property
    def internal(self) -> dict[str, str]:
        return {"X-Internal-Secret": self.settings.internal_secret}


@pytest.fixture(scope="module")
def ms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Microservices]:
    """Module scope: each test makes its own users and products, and starts again every
    service it stops or kills before it ends."""
    workdir: Path = tmp_path_factory.mktemp("microservices")
    with deploy("microservices", workdir, run_id="test-saga", health_timeout=60.0) as deployed:
        deployment, urls = deployed.deployment, deployed.deployment.service_urls
        yield Microservices(
            deployment, deployed.settings, deployment.url, urls["catalog"], urls["users"],
            urls["orders"],
        )


@pytest.fixture
def http(http_session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    return http_session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    return await json_call(http, method, url, body, headers=headers)


async def token(http: aiohttp.ClientSession, ms: Microservices, admin: bool = False) -> str:
    if admin:
        username, password = ms.settings.admin_username, ms.settings.admin_password
    else:
        username, password = f"u{secrets.token_hex(6)}", "correct horse"
        status, _ = await call(
            http, "POST", f"{ms.gateway}/users", {"username": username, "password": password}
        )
        assert status == 201
    status, body = await call(
        http, "POST", f"{ms.gateway}/login", {"username": username, "password": password}
    )
    assert status == 200, body
    return str(body["token"])


async def new_product(
    http: aiohttp.ClientSession, ms: Microservices, stock: int, price: int = 500
) -> int:
    admin = await token(http, ms, admin=True)
    status, body = await call(
        http, "POST", f"{ms.gateway}/products",
        {"name": f"p-{secrets.token_hex(4)}", "price_cents": price, "stock": stock},
        Authorization=f"Bearer {admin}",
    )
    assert status == 201, body
    return int(body["id"])


async def stock_of(http: aiohttp.ClientSession, ms: Microservices, product_id: int) -> int:
    status, body = await call(http, "GET", f"{ms.gateway}/products/{product_id}")
    assert status == 200, body
    return int(body["stock"])


async def reserve(
    http: aiohttp.ClientSession, ms: Microservices, order_id: str, items: list[tuple[int, int]]
) -> tuple[int, Any]:
    body = {"order_id": order_id, "items": [{"product_id": p, "quantity": q} for p, q in items]}
    return await call(http, "POST", f"{ms.catalog}/internal/reservations", body, **ms.internal)


async def test_internal_endpoints_refuse_callers_without_the_secret(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    order = {"order_id": str(uuid.uuid4()), "items": [{"product_id": 1, "quantity": 1}]}
    url = f"{ms.catalog}/internal/reservations"
    assert (await call(http, "POST", url, order))[0] == 401
    status, body = await call(http, "POST", url, order, **{"X-Internal-Secret": "guess"})
    assert (status, body["error"]) == (403, "forbidden")
    assert (await call(http, "DELETE", f"{url}/{order['order_id']}"))[0] == 401
    for base in (ms.users, ms.catalog, ms.orders):
        assert (await call(http, "GET", f"{base}/internal/stats"))[0] == 401
        assert (await call(http, "GET", f"{base}/internal/stats", **ms.internal))[0] == 200
    # The gateway never exposes internal endpoints, whatever header the client sends.
    status, _ = await call(
        http, "POST", f"{ms.gateway}/internal/reservations", order, **ms.internal
    )
    assert status == 404


async def test_same_order_id_reserves_once(ms: Microservices, http: aiohttp.ClientSession) -> None:
    product = await new_product(http, ms, stock=10, price=700)
    order_id = str(uuid.uuid4())
    first = await reserve(http, ms, order_id, [(product, 3)])
    again = await reserve(http, ms, order_id, [(product, 3)])
    assert first == again
    assert first[0] == 200 and first[1]["total_cents"] == 2100
    assert first[1]["items"] == [{"product_id": product, "quantity": 3, "price_cents": 700}]
    assert await stock_of(http, ms, product) == 7
    # The same id with other items is a conflict, not a second reservation.
    status, body = await reserve(http, ms, order_id, [(product, 4)])
    assert (status, body["error"]) == (409, "conflict")
    assert await stock_of(http, ms, product) == 7


async def test_concurrent_retries_of_one_order_id_reserve_once(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    product = await new_product(http, ms, stock=10)
    order_id = str(uuid.uuid4())
    answers = await asyncio.gather(*(reserve(http, ms, order_id, [(product, 2)]) for _ in range(6)))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == 200
    assert await stock_of(http, ms, product) == 8


async def test_release_is_idempotent_and_final(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    product = await new_product(http, ms, stock=5)
    order_id = str(uuid.uuid4())
    assert (await reserve(http, ms, order_id, [(product, 5)]))[0] == 200
    assert await stock_of(http, ms, product) == 0
    url = f"{ms.catalog}/internal/reservations/{order_id}"
    assert await call(http, "DELETE", url, **ms.internal) == (
        200,
        {"order_id": order_id, "released": True},
    )
    assert await call(http, "DELETE", url, **ms.internal) == (
        200,
        {"order_id": order_id, "released": False},
    )
    assert await stock_of(http, ms, product) == 5
    # A reservation arriving after its release (a caller that timed out) takes nothing.
    status, body = await reserve(http, ms, order_id, [(product, 5)])
    assert (status, body["error"]) == (409, "conflict")
    late = str(uuid.uuid4())
    assert (
        await call(http, "DELETE", f"{ms.catalog}/internal/reservations/{late}", **ms.internal)
    )[0] == 200
    assert (await reserve(http, ms, late, [(product, 1)]))[0] == 409
    assert await stock_of(http, ms, product) == 5


async def test_reservation_is_all_or_nothing(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    plenty = await new_product(http, ms, stock=100)
    scarce = await new_product(http, ms, stock=2)
    status, body = await reserve(http, ms, str(uuid.uuid4()), [(scarce, 3), (plenty, 10)])
    assert (status, body["error"]) == (409, "insufficient_stock")
    status, body = await reserve(http, ms, str(uuid.uuid4()), [(plenty, 10), (2**62, 1)])
    assert (status, body["error"]) == (404, "not_found")
    assert await stock_of(http, ms, plenty) == 100
    assert await stock_of(http, ms, scarce) == 2


async def stats(http: aiohttp.ClientSession, ms: Microservices, admin: str) -> dict[str, Any]:
    status, body = await call(http, "GET", f"{ms.gateway}/stats", Authorization=f"Bearer {admin}")
    assert status == 200, body
    return dict(body)


async def test_failed_order_insert_releases_the_reservation(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    product = await new_product(http, ms, stock=10)
    user = await token(http, ms)
    admin = await token(http, ms, admin=True)
    before = await stats(http, ms, admin)
    order = {"items": [{"product_id": product, "quantity": 4}]}
    orders_db = await asyncpg.connect(ms.database_url("orders"))
    try:
        # A real fault: from now on every insert into orders violates this constraint.
        await orders_db.execute(
            "ALTER TABLE orders ADD CONSTRAINT fault_injection CHECK (total_cents < 0) NOT VALID"
        )
        try:
            status, body = await call(http, "POST", f"{ms.gateway}/orders", order,
                                      Authorization=f"Bearer {user}")
        finally:
            await orders_db.execute("ALTER TABLE orders DROP CONSTRAINT fault_injection")
    finally:
        await orders_db.close()
    assert (status, body["error"]) == (503, "unavailable")
    assert await stock_of(http, ms, product) == 10  # compensated
    catalog_db = await asyncpg.connect(ms.database_url("catalog"))
    try:
        rows = await catalog_db.fetch(
            "SELECT r.status FROM reservations r JOIN reservation_items i USING (order_id)"
            " WHERE i.product_id = $1",
            product,
        )
    finally:
        await catalog_db.close()
    assert [row["status"] for row in rows] == ["released"]  # it was reserved, then released
    after = await stats(http, ms, admin)
    assert after["orders"] == before["orders"]
    assert (
        after["stock_total"] + after["units_sold"] == before["stock_total"] + before["units_sold"]
    )
    # With the fault gone the same order goes through and takes the stock once.
    status, body = await call(
        http, "POST", f"{ms.gateway}/orders", order, Authorization=f"Bearer {user}"
    )
    assert status == 201 and body["status"] == "confirmed" and body["total_cents"] == 2000
    assert await stock_of(http, ms, product) == 6


async def test_gateway_answers_unavailable_while_a_service_is_down(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    product = await new_product(http, ms, stock=3)
    user = await token(http, ms)
    admin = await token(http, ms, admin=True)
    ms.deployment.stop_service("catalog")
    try:
        for method, path, body, auth in (
            ("GET", "/products", None, ""),
            ("GET", f"/products/{product}", None, ""),
            ("POST", "/orders", {"items": [{"product_id": product, "quantity": 1}]}, user),
            ("GET", "/stats", None, admin),
            ("GET", "/health", None, ""),
        ):
            headers = {"Authorization": f"Bearer {auth}"} if auth else {}
            status, answer = await call(http, method, f"{ms.gateway}{path}", body, **headers)
            assert (status, answer["error"]) == (503, "unavailable"), (method, path, answer)
        # The token is checked at the gateway, before any forwarding: 401, not 503.
        product_body = {"name": "x", "price_cents": 1, "stock": 1}
        status, answer = await call(http, "POST", f"{ms.gateway}/products", product_body)
        assert (status, answer["error"]) == (401, "unauthorized")
    finally:
        ms.deployment.start_service("catalog")
    assert (await call(http, "GET", f"{ms.gateway}/health"))[0] == 200
    assert await stock_of(http, ms, product) == 3  # the refused order took nothing
    status, body = await call(
        http, "POST", f"{ms.gateway}/orders", {"items": [{"product_id": product, "quantity": 3}]},
        Authorization=f"Bearer {user}",
    )
    assert status == 201, body
    assert await stock_of(http, ms, product) == 0


async def test_a_database_outage_takes_down_only_the_service_that_owns_it(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    """A PostgreSQL server per service: killing catalog's leaves accounts working."""
    assert len({ms.deployment.service_urls[f"{name}-db"]
                for name in ("users", "catalog", "orders")}) == 3
    ms.deployment.kill_service("catalog-db")
    try:
        status, answer = await call(http, "GET", f"{ms.gateway}/products")
        assert status == 503, answer
        user = await token(http, ms)  # users-db is untouched: register + login still work
        assert user
    finally:
        ms.deployment.start_service("catalog-db")
    for _ in range(50):  # the catalog's pool reconnects on its next request
        status, answer = await call(http, "GET", f"{ms.gateway}/products")
        if status == 200:
            break
        await asyncio.sleep(0.2)
    assert status == 200, answer


async def reservation_status(ms: Microservices, order_id: str) -> str | None:
    catalog_db = await asyncpg.connect(ms.database_url("catalog"))
    try:
        status = await catalog_db.fetchval(
            "SELECT status FROM reservations WHERE order_id = $1", uuid.UUID(order_id)
        )
    finally:
        await catalog_db.close()
    return None if status is None else str(status)


async def eventually(probe: Any, expected: Any, timeout_s: float = 15.0) -> Any:
    """Poll ``await probe()`` until it equals ``expected`` or ``timeout_s`` seconds pass."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if value == expected or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_stored_orders_get_their_reservation_confirmed(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    product = await new_product(http, ms, stock=5)
    user = await token(http, ms)
    status, body = await call(
        http, "POST", f"{ms.gateway}/orders", {"items": [{"product_id": product, "quantity": 2}]},
        Authorization=f"Bearer {user}",
    )
    assert status == 201, body
    assert await eventually(lambda: reservation_status(ms, body["id"]), "confirmed") == "confirmed"
    # A confirmed reservation belongs to a stored order: it can no longer be released.
    url = f"{ms.catalog}/internal/reservations/{body['id']}"
    status, answer = await call(http, "DELETE", url, **ms.internal)
    assert (status, answer["error"]) == (409, "conflict")
    assert await stock_of(http, ms, product) == 3


async def test_restarted_orders_reconciles_reservations_left_open(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    """An orders process that died between reserving and storing leaves stock reserved.

    Both leftovers are made real: a reservation taken for an order that was never
    stored (what a crash right after the catalog call leaves), and a stored order
    whose confirmation never reached catalog. The restarted service's sweep must
    release the first and confirm the second.
    """
    product = await new_product(http, ms, stock=10)
    user = await token(http, ms)
    orphan = str(uuid.uuid4())
    assert (await reserve(http, ms, orphan, [(product, 4)]))[0] == 200
    status, body = await call(
        http, "POST", f"{ms.gateway}/orders", {"items": [{"product_id": product, "quantity": 1}]},
        Authorization=f"Bearer {user}",
    )
    assert status == 201, body
    stored = body["id"]
    assert await eventually(lambda: reservation_status(ms, stored), "confirmed") == "confirmed"
    ms.deployment.kill_service("orders")
    catalog_db = await asyncpg.connect(ms.database_url("catalog"))
    try:
        await catalog_db.execute(
            "UPDATE reservations SET status = 'reserved', created_at = now() - interval '10 min'"
            " WHERE order_id = ANY($1::uuid[])",
            [uuid.UUID(orphan), uuid.UUID(stored)],
        )
    finally:
        await catalog_db.close()
    assert await stock_of(http, ms, product) == 5
    ms.deployment.start_service("orders")
    assert await eventually(lambda: reservation_status(ms, orphan), "released") == "released"
    assert await eventually(lambda: reservation_status(ms, stored), "confirmed") == "confirmed"
    assert (
        await stock_of(http, ms, product) == 9
    )  # the orphan's 4 units are back, the order's 1 is not
    status, body = await call(
        http, "GET", f"{ms.gateway}/orders/{stored}", Authorization=f"Bearer {user}"
    )
    assert (status, body["status"]) == (200, "confirmed")


async def test_gateway_passes_answers_through_unchanged(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    user = await token(http, ms)
    auth = {"Authorization": f"Bearer {user}"}
    taken = {"username": ms.settings.admin_username, "password": "whatever-long"}
    json = {"Content-Type": "application/json"}
    requests: list[tuple[str, str, str, bytes, dict[str, str], int]] = [
        ("GET", ms.catalog, "/products?limit=3&offset=0", b"", {}, 200),
        ("GET", ms.catalog, "/products?limit=1000", b"", {}, 400),
        ("GET", ms.catalog, "/products/999999999", b"", {}, 404),
        ("GET", ms.catalog, "/products/abc", b"", {}, 400),
        ("POST", ms.users, "/users", orjson.dumps(taken), json, 409),
        ("POST", ms.users, "/login", b"{not json", json, 400),
        ("POST", ms.orders, "/orders", b'{"items": []}', {**auth, **json}, 400),
        ("GET", ms.orders, f"/orders/{uuid.uuid4()}", b"", auth, 404),
    ]
    for method, service, path, body, headers, expected in requests:
        answers = []
        for base in (ms.gateway, service):
            async with http.request(method, base + path, data=body or None, headers=headers) as r:
                answers.append((r.status, r.headers.get("Content-Type"), await r.read()))
        assert answers[0] == answers[1], (method, path)
        assert answers[0][0] == expected, (method, path, answers[0])


async def test_stats_report_units_held_by_an_open_reservation(
    ms: Microservices, http: aiohttp.ClientSession
) -> None:
    """A reservation whose order was never stored (a crash mid-order) holds stock that is not
    sold: /stats says how much, so the integrity check can tell it from a loss."""
    admin = await token(http, ms, admin=True)
    product = await new_product(http, ms, stock=10)
    before = await stats(http, ms, admin)
    status, _ = await reserve(http, ms, str(uuid.uuid4()), [(product, 3)])
    assert status in (200, 201)
    after = await stats(http, ms, admin)
    assert after["units_reserved"] == before["units_reserved"] + 3
    assert after["stock_total"] + after["units_sold"] + after["units_reserved"] == (
        before["stock_total"] + before["units_sold"] + before["units_reserved"])
