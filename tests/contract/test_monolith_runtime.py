"""Monolith runtime behaviour the contract suite cannot see from outside.

- ``GET /health`` is 503 ``unavailable`` while PostgreSQL is down, and every
  request then answers 503 (never 500); both recover when PostgreSQL is back.
- a validly signed token of a user that does not exist gets 401, not a 500.
- ``WORKERS=N`` runs N worker processes under one supervisor; SIGTERM to the
  supervisor stops them all, and a crashed worker takes the service down
  (so the harness sees the failure instead of a silently smaller service).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from helpers.deploy import deploy

from harness.backends.lifecycle import ManagedDeployment
from targets.common.auth import issue_token

pytestmark = [pytest.mark.needs_postgres, pytest.mark.timeout(180)]
WAIT_S = 30.0  # seconds any expected state change may take
TOKEN_SECRET = "monolith-runtime-test-secret-" + "x" * 20


@pytest.fixture(scope="module")
def shared_monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedDeployment]:
    """One deployment for the module (PostgreSQL starts once); ``monolith`` repairs it."""
    workdir: Path = tmp_path_factory.mktemp("monolith-runtime")
    with deploy(
        "monolith", workdir, run_id="test-monolith-runtime", workers=3, token_secret=TOKEN_SECRET
    ) as deployed:
        yield deployed.deployment


@pytest.fixture
def monolith(shared_monolith: ManagedDeployment) -> Iterator[ManagedDeployment]:
    """The shared deployment, every instance running; after the test, whatever it stopped
    or killed (PostgreSQL, the supervisor, a worker) is started again with the same ports,
    so the next test sees a deployment as fresh as a new one (its data aside)."""
    yield shared_monolith
    for instance in shared_monolith.instances:
        if not shared_monolith.pids(instance.name):
            shared_monolith.stop_service(instance.name)  # reap what is left of it
            shared_monolith.start_service(instance.name)


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


def test_database_outage_is_503_and_recovers(monolith: ManagedDeployment) -> None:
    token = requests.post(
        f"{monolith.url}/login",
        json={"username": monolith.admin_username, "password": monolith.admin_password},
        timeout=10,
    ).json()["token"]
    assert _get(f"{monolith.url}/health").status_code == 200
    monolith.stop_service("postgres")
    for _ in range(6):  # several requests: each worker's pool notices on its own
        health = _get(f"{monolith.url}/health")
        assert health.status_code == 503 and health.json()["error"] == "unavailable"
        product = _get(f"{monolith.url}/products/1")
        assert product.status_code == 503, product.text
        assert product.json()["error"] == "unavailable"
    order = requests.post(
        f"{monolith.url}/orders",
        json={"items": [{"product_id": 1, "quantity": 1}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert order.status_code == 503 and order.json()["error"] == "unavailable"
    monolith.start_service("postgres")
    _wait_for(lambda: _get(f"{monolith.url}/health").status_code == 200, "health to recover")
    assert _get(f"{monolith.url}/products").status_code == 200
    assert "unhandled error" not in monolith.logs("app", 1000), "an outage produced a 500"


def _workers(deployment: ManagedDeployment) -> tuple[int, list[int]]:
    pids = deployment.pids("app")
    assert pids, "the app is not running"
    return pids[0], pids[1:]


def test_workers_share_the_port_and_stop_on_sigterm(monolith: ManagedDeployment) -> None:
    leader, workers = _workers(monolith)
    assert len(workers) == 3
    port = int(monolith.url.rsplit(":", 1)[1])
    listening = {
        conn.pid
        for conn in psutil.net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
    }
    assert listening == set(workers), "each worker (and only they) listens on the shared port"
    os.kill(leader, signal.SIGTERM)
    _wait_for(lambda: not monolith.pids("app"), "the supervisor to exit")
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in workers
    ), "a worker outlived the supervisor"


def test_a_crashed_worker_takes_the_service_down(monolith: ManagedDeployment) -> None:
    _leader, workers = _workers(monolith)
    os.kill(workers[0], signal.SIGKILL)
    _wait_for(lambda: not monolith.pids("app"), "the supervisor to stop the other workers")


def test_signed_token_of_an_unknown_user_is_401(monolith: ManagedDeployment) -> None:
    login = {"username": monolith.admin_username, "password": monolith.admin_password}
    admin = requests.post(f"{monolith.url}/login", json=login, timeout=10).json()["token"]
    product = requests.post(
        f"{monolith.url}/products",
        json={"name": "ghost-test", "price_cents": 5, "stock": 3},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    ).json()
    ghost = issue_token(987_654_321, "ghost", "user", TOKEN_SECRET, ttl_s=600)
    order = requests.post(
        f"{monolith.url}/orders",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers={"Authorization": f"Bearer {ghost}"},
        timeout=10,
    )
    assert order.status_code == 401 and order.json()["error"] == "unauthorized", order.text
    stock = requests.get(f"{monolith.url}/products/{product['id']}", timeout=10).json()["stock"]
    assert stock == 3, "the rejected order kept its reservation"
