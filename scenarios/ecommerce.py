"""The e-commerce shopper: the one Locust user that drives every target.

Started by ``bench run`` as ``locust -f scenarios/ecommerce.py --headless ...`` with
``ARCHBENCH_SCENARIO`` naming the settings file (credentials pool, product ids, task
weights, stages). Each simulated user takes credentials from the seeded pool (round
robin), logs in once at start, then runs the weighted task mix. Endpoint names are the
route templates ("GET /products/{id}") so statistics group per endpoint.

Acknowledged orders (201/202) carry their id and the username in the request context;
the raw-sample hook writes them out for the integrity check. Pending (202) orders are
also announced over UDP to the harness's order tracker (when one listens) so it can
measure time-to-final from the moment of acknowledgement.
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import time
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task

from scenarios import hook
from scenarios.plan import pacing
from scenarios.settings import load_settings
from scenarios.shapes import StagesShape

SETTINGS = load_settings()
_CREDENTIALS = itertools.cycle(SETTINGS.credentials)


class ProfileShape(StagesShape):
    """The profile's stages, from the settings file."""

    stages = tuple(SETTINGS.stages)


@events.init.add_listener
def _install_hook(environment: Any, **_: Any) -> None:
    hook.die_with_master()  # --processes workers die with the master, as it dies with the harness
    if SETTINGS.samples_dir:
        hook.install(environment.events, SETTINGS.samples_dir)


@events.test_start.add_listener
def _mark_start(environment: Any, **_: Any) -> None:
    """Record when the load shape started (the clock the harness's warm-up counts from)."""
    from locust.runners import WorkerRunner

    if SETTINGS.samples_dir and not isinstance(environment.runner, WorkerRunner):
        with open(f"{SETTINGS.samples_dir}/start.txt", "w", encoding="utf-8") as handle:
            handle.write(f"{time.time():.6f}\n")


def _order_announcer() -> tuple[socket.socket, tuple[str, int]] | None:
    if not SETTINGS.order_socket:
        return None
    host, _, port = SETTINGS.order_socket.rpartition(":")
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM), (host, int(port))


_ANNOUNCER: tuple[socket.socket, tuple[str, int]] | None = None


def _announce(order_id: str, username: str, token: str, ack_s: float) -> None:
    """Tell the harness's tracker about a pending order (UDP, fire and forget)."""
    global _ANNOUNCER  # one socket per process, made lazily after --processes forks
    if _ANNOUNCER is None:
        _ANNOUNCER = _order_announcer()
        if _ANNOUNCER is None:
            return
    sock, address = _ANNOUNCER
    try:
        sock.sendto(f"{order_id}\t{username}\t{ack_s:.6f}\t{token}".encode(), address)
    except OSError:
        pass  # the tracker is an optional observer; never fail the shopper


class Shopper(FastHttpUser):
    """Browses the catalog, orders a few distinct products, reads its orders back."""

    wait_time = constant_throughput(pacing(SETTINGS.rate, SETTINGS.stages)) if SETTINGS.rate > 0 else constant(0)
    network_timeout = SETTINGS.request_timeout_s
    connection_timeout = SETTINGS.request_timeout_s
    # Endpoints are named by route so Locust does not mind many distinct URLs.

    def on_start(self) -> None:
        self.username, self.password = next(_CREDENTIALS)
        self.token = ""
        self.orders: list[str] = []
        self.login()

    def context(self) -> dict[str, Any]:
        return {"user": self.username}

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def login(self) -> None:
        with self.client.post(
            "/login", json={"username": self.username, "password": self.password},
            name="/login", catch_response=True,
        ) as response:
            if response.status_code == 200:
                try:
                    self.token = json.loads(response.content)["token"]
                except (ValueError, KeyError, TypeError):
                    response.failure("login answered 200 without a token")

    @task(SETTINGS.weights.get("list_products", 0))
    def list_products(self) -> None:
        pages = max(1, len(SETTINGS.product_ids) // SETTINGS.page_size)
        offset = random.randrange(pages) * SETTINGS.page_size
        self.client.get(f"/products?limit={SETTINGS.page_size}&offset={offset}", name="/products")

    @task(SETTINGS.weights.get("view_product", 0))
    def view_product(self) -> None:
        product_id = random.choice(SETTINGS.product_ids)
        self.client.get(f"/products/{product_id}", name="/products/{id}")

    @task(SETTINGS.weights.get("place_order", 0))
    def place_order(self) -> None:
        count = random.randint(1, min(SETTINGS.max_items_per_order, len(SETTINGS.product_ids)))
        products = random.sample(SETTINGS.product_ids, count)  # distinct ids: duplicates are a 400
        items = [{"product_id": pid, "quantity": random.randint(1, 3)} for pid in products]
        with self.client.post(
            "/orders", json={"items": items}, headers=self._auth(), name="/orders", catch_response=True
        ) as response:
            if response.status_code in (201, 202):
                try:
                    order_id = str(json.loads(response.content)["id"])
                except (ValueError, KeyError, TypeError):
                    response.failure("order acknowledged without an id")
                    return
                response.request_meta["context"]["order_id"] = order_id
                self.orders.append(order_id)
                if len(self.orders) > 100:
                    del self.orders[:50]
                if response.status_code == 202:
                    _announce(order_id, self.username, self.token, time.time())

    @task(SETTINGS.weights.get("read_order", 0))
    def read_order(self) -> None:
        if not self.orders:
            return  # nothing ordered yet: this turn is skipped, no request made
        order_id = random.choice(self.orders)
        self.client.get(f"/orders/{order_id}", headers=self._auth(), name="/orders/{id}")

    @task(SETTINGS.weights.get("login", 0))
    def login_again(self) -> None:
        self.login()
