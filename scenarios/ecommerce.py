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
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.lock
import gevent.pool
from locust import FastHttpUser, constant, constant_throughput, events, task

from scenarios import hook, remote
from scenarios.plan import arrival_offsets, is_open_model, pacing
from scenarios.settings import load_settings
from scenarios.shapes import StagesShape

SETTINGS = load_settings()
OPEN_MODEL = is_open_model(SETTINGS.stages)
DRAIN_S = 10.0  # open model: at most this long after the last arrival for answers in flight
_CREDENTIALS = itertools.cycle(SETTINGS.credentials)
RECORDER: hook.SampleRecorder | None = None
LOCUST_STATS_ENV = "ARCHBENCH_LOCUST_STATS"  # "1": keep Locust's own per-request statistics as well


class ProfileShape(StagesShape):
    """The profile's stages, from the settings file."""

    stages = tuple(SETTINGS.stages)
    arrival_drivers = max(1, SETTINGS.processes) if OPEN_MODEL else 0
    drain_s = min(SETTINGS.request_timeout_s, DRAIN_S)


@events.init.add_listener
def _install_hook(environment: Any, **_: Any) -> None:
    hook.die_with_master()  # --processes workers die with the master, as it dies with the harness
    global RECORDER  # one per process: ArrivalShopper records dropped arrivals on it
    if SETTINGS.samples_dir and SETTINGS.master_host:  # remote workers: samples stream to the master
        from locust.runners import MasterRunner, WorkerRunner

        if isinstance(environment.runner, WorkerRunner):
            RECORDER = remote.install_worker(environment, SETTINGS.master_host)
            if os.environ.get(LOCUST_STATS_ENV) != "1":
                _samples_only(environment)
        elif isinstance(environment.runner, MasterRunner):
            os.makedirs(SETTINGS.samples_dir, exist_ok=True)
            remote.MasterCollector(environment, SETTINGS.samples_dir)
    elif SETTINGS.samples_dir:
        RECORDER = hook.install(environment.events, SETTINGS.samples_dir)
        if os.environ.get(LOCUST_STATS_ENV) != "1":
            _samples_only(environment)


def _samples_only(environment: Any) -> None:
    """Switch Locust's own per-request statistics off: the raw samples are archbench's record.

    Nothing archbench reports comes from them (the analysis and the live progress read
    the sample files), and ``RequestStats.log_request`` (response-time buckets, per-second
    counters) costs about 4 µs of generator CPU per request. ``ARCHBENCH_LOCUST_STATS=1``
    keeps them (e.g. for ``--csv``).
    """
    environment.stats.log_request = _ignore
    environment.stats.log_error = _ignore
    logging.getLogger(__name__).warning(
        "archbench: Locust's own request statistics are off (the raw samples in %s are the "
        "record; set %s=1 to keep them): its tables below count nothing", SETTINGS.samples_dir,
        LOCUST_STATS_ENV)


def _ignore(*_: Any, **__: Any) -> None:
    return None


def _without_cookies(client: Any) -> Any:
    """``client`` (a FastHttpSession) with no cookie jar; returns it.

    The targets authenticate with bearer tokens and set no cookies, while http.cookiejar's
    add_cookie_header / extract_cookies on every request cost about a tenth of the
    generator's CPU per request.
    """
    client.client.cookiejar = None
    return client


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


@dataclass
class Identity:
    """One seeded account as the shopper uses it: its token and the orders it placed."""

    username: str
    password: str
    token: str = ""
    orders: list[str] = field(default_factory=list)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# -- the task mix: one implementation for the closed and the open model ------------------------
# Each task makes at most one request with ``client`` as ``who``; ``context`` is recorded
# with the sample (the open model adds the request's intended start time to it).


def login(client: Any, who: Identity, context: dict[str, Any]) -> None:
    with client.post(
        "/login", json={"username": who.username, "password": who.password},
        name="/login", catch_response=True, context=context,
    ) as response:
        if response.status_code == 200:
            try:
                who.token = json.loads(response.content)["token"]
            except (ValueError, KeyError, TypeError):
                response.failure("login answered 200 without a token")


def list_products(client: Any, who: Identity, context: dict[str, Any]) -> None:
    pages = max(1, len(SETTINGS.product_ids) // SETTINGS.page_size)
    offset = random.randrange(pages) * SETTINGS.page_size
    client.get(f"/products?limit={SETTINGS.page_size}&offset={offset}", name="/products",
               context=context)


def view_product(client: Any, who: Identity, context: dict[str, Any]) -> None:
    product_id = random.choice(SETTINGS.product_ids)
    client.get(f"/products/{product_id}", name="/products/{id}", context=context)


def place_order(client: Any, who: Identity, context: dict[str, Any]) -> None:
    count = random.randint(1, min(SETTINGS.max_items_per_order, len(SETTINGS.product_ids)))
    products = random.sample(SETTINGS.product_ids, count)  # distinct ids: duplicates are a 400
    items = [{"product_id": pid, "quantity": random.randint(1, 3)} for pid in products]
    with client.post(
        "/orders", json={"items": items}, headers=who.auth(), name="/orders", catch_response=True,
        context=context,
    ) as response:
        if response.status_code in (201, 202):
            try:
                order_id = str(json.loads(response.content)["id"])
            except (ValueError, KeyError, TypeError):
                response.failure("order acknowledged without an id")
                return
            response.request_meta["context"]["order_id"] = order_id
            who.orders.append(order_id)
            if len(who.orders) > 100:
                del who.orders[:50]
            if response.status_code == 202:
                _announce(order_id, who.username, who.token, time.time())


def read_order(client: Any, who: Identity, context: dict[str, Any]) -> None:
    if not who.orders:
        return  # nothing ordered yet: this turn is skipped, no request made
    order_id = random.choice(who.orders)
    client.get(f"/orders/{order_id}", headers=who.auth(), name="/orders/{id}", context=context)


TASKS: dict[str, Callable[[Any, Identity, dict[str, Any]], None]] = {
    "list_products": list_products, "view_product": view_product, "place_order": place_order,
    "read_order": read_order, "login": login,
}
ENDPOINTS = {"list_products": "GET /products", "view_product": "GET /products/{id}",
             "place_order": "POST /orders", "read_order": "GET /orders/{id}", "login": "POST /login"}


def _identity() -> Identity:
    username, password = next(_CREDENTIALS)
    return Identity(username, password)


class Shopper(FastHttpUser):
    """Closed model: one simulated user, logged in once, running the weighted task mix in a loop."""

    abstract = OPEN_MODEL
    wait_time = constant_throughput(pacing(SETTINGS.rate, SETTINGS.stages)) if SETTINGS.rate > 0 else constant(0)
    network_timeout = SETTINGS.request_timeout_s
    connection_timeout = SETTINGS.request_timeout_s
    # Endpoints are named by route so Locust does not mind many distinct URLs.

    def on_start(self) -> None:
        _without_cookies(self.client)
        self.who = _identity()
        login(self.client, self.who, self.context())

    def context(self) -> dict[str, Any]:
        return {"user": self.who.username}

    @task(SETTINGS.weights.get("list_products", 0))
    def list_products(self) -> None:
        list_products(self.client, self.who, self.context())

    @task(SETTINGS.weights.get("view_product", 0))
    def view_product(self) -> None:
        view_product(self.client, self.who, self.context())

    @task(SETTINGS.weights.get("place_order", 0))
    def place_order(self) -> None:
        place_order(self.client, self.who, self.context())

    @task(SETTINGS.weights.get("read_order", 0))
    def read_order(self) -> None:
        read_order(self.client, self.who, self.context())

    @task(SETTINGS.weights.get("login", 0))
    def login_again(self) -> None:
        login(self.client, self.who, self.context())


class ArrivalShopper(FastHttpUser):
    """Open model: one per generator process, sending its share of the arrival schedule.

    Each arrival runs one task of the weighted mix at its *intended* time whatever the
    responses do, with up to ``max_in_flight / processes`` requests outstanding (the
    FastHttp client's connection pool has the same size). The intended start goes into
    the sample's context, so latency is measured from it (coordinated-omission corrected,
    as wrk2 does) beside the service time from the actual send. An arrival that finds
    every slot busy waits for one and is sent late; one still waiting after the request
    timeout is recorded as dropped (k6's dropped_iterations), never silently absorbed.
    """

    abstract = not OPEN_MODEL
    concurrency = max(1, -(-SETTINGS.max_in_flight // max(1, SETTINGS.processes)))
    network_timeout = SETTINGS.request_timeout_s
    connection_timeout = SETTINGS.request_timeout_s
    wait_time = constant(0)
    IDENTITIES = 20  # logged-in accounts per process, used round robin by its arrivals

    def on_start(self) -> None:
        _without_cookies(self.client)
        runner = self.environment.runner
        self.index = max(0, int(getattr(runner, "worker_index", 0) or 0)) % max(1, SETTINGS.processes)
        share = SETTINGS.credentials[self.index::max(1, SETTINGS.processes)] or SETTINGS.credentials
        self.identities = [Identity(u, p) for u, p in share[: self.IDENTITIES]]
        logins = gevent.pool.Pool(self.concurrency)
        for who in self.identities:
            logins.spawn(login, self.client, who, {"user": who.username})
        logins.join()

    @task
    def drive(self) -> None:
        """Send this process's arrivals at their intended times, then wait for the shape to stop."""
        names = [name for name in TASKS if SETTINGS.weights.get(name, 0) > 0]
        weights = [SETTINGS.weights[name] for name in names]
        slots = gevent.lock.BoundedSemaphore(self.concurrency)
        arrivals = gevent.pool.Group()
        lags: list[float] = []  # seconds the scheduler itself was late (the generator's own lag)
        who = itertools.cycle(self.identities)

        def arrive(name: str, current: Identity, intended: float) -> None:
            # Every slot busy: wait for one (the request is late, measured from its intended
            # start); still waiting after the request timeout: dropped, and counted.
            if not slots.acquire(timeout=max(0.0, intended + SETTINGS.request_timeout_s - time.time())):
                if RECORDER is not None:
                    RECORDER.on_dropped(ENDPOINTS[name], intended)
                return
            try:
                TASKS[name](self.client, current, {"user": current.username, "intended_s": intended})
            finally:
                slots.release()

        origin = time.time() + 0.2
        for offset in arrival_offsets(SETTINGS.stages, index=self.index,
                                      processes=max(1, SETTINGS.processes),
                                      poisson=SETTINGS.arrival == "poisson",
                                      seed=SETTINGS.arrival_seed):
            intended = origin + offset
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            lags.append(max(0.0, time.time() - intended))
            arrivals.spawn(arrive, random.choices(names, weights)[0], next(who), intended)
        arrivals.join(timeout=SETTINGS.request_timeout_s)
        _write_schedule_report(lags, self.environment.runner)
        ProfileShape.drivers_done += 1  # (seen by the shape when it runs in this process)
        gevent.sleep(3600)  # the shape stops the test; drive must not start over


def _write_schedule_report(lags: list[float], runner: Any = None) -> None:
    """``schedule-<pid>.json``: how late this process's scheduler dispatched its arrivals (ms).

    A remote worker sends it to the master, which writes it into the sample directory.
    """
    if not SETTINGS.samples_dir or not lags:
        return
    ordered = sorted(lags)
    report = {"arrivals": len(ordered), "lag_p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
              "lag_max_ms": ordered[-1] * 1000,
              "late_10ms": sum(1 for lag in ordered if lag > 0.010)}
    if SETTINGS.master_host and runner is not None:
        remote.send_schedule(runner, report)
        return
    path = f"{SETTINGS.samples_dir}/schedule-{os.getpid()}.json"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
