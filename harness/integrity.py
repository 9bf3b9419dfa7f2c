"""After load: was every acknowledged order kept? And how long until async orders were final?

Reconciliation (``check_integrity``): every order the target acknowledged (201/202, from
the raw samples) is looked up with ``GET /orders/{id}`` as its owner (one login per
distinct user, bounded concurrency). Orders acknowledged with 202 (asynchronous targets)
are polled every ``integrity.poll_interval`` until final (confirmed/rejected) or until
``integrity.timeout``; an order never found is *lost*, and any lost order fails the run.
``GET /stats`` must then conserve ``stock_total + units_sold`` from right after seeding.

Time to final (``OrderTracker``): the locustfile announces each 202 order over UDP on
127.0.0.1 the moment it is acknowledged. The tracker follows a bounded sample of them
(``TRACK_PER_SECOND``) with polls at growing gaps (5 ms, x1.5, capped at the poll
interval) and records ack -> first poll that saw the order final (the poll's response
time). The resolution is the gap between the last observation that was not final (or the
ack) and that poll; its median is reported as ``resolution_ms``. Orders still pending
when load ended are polled by the reconciliation and their first final sighting counts
too. The tracker's polls add a little read load during the run (at most a few requests
per tracked order).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import orjson
import pandas as pd
import uvloop

from harness.config import IntegrityConfig
from harness.results import Integrity, TimeToFinal
from harness.seed import conserved, get_stats

FINAL = ("confirmed", "rejected")
TRACK_PER_SECOND = 5  # tracked orders per second (a sample, to bound the extra load)
FIRST_POLL_S = 0.005
POLL_GROWTH = 1.5
LOGIN_CONCURRENCY = 4  # logins hash a memory-hard KDF on the target
LOOKUP_CONCURRENCY = 48
MAX_IDS = 1000  # lost and pending order ids kept in results.json


@dataclass(frozen=True)
class AckedOrder:
    order_id: str
    user: str
    status: int  # 201 or 202
    ack_s: float  # epoch seconds the acknowledgement arrived


def acknowledged_orders(samples: pd.DataFrame) -> list[AckedOrder]:
    """Orders the target acknowledged, from the raw samples (whole run, warm-up included)."""
    rows = samples[samples["order_id"].astype(str) != ""]
    ack = rows["start_s"].to_numpy() + rows["latency_ms"].to_numpy() / 1000.0
    return [
        AckedOrder(str(o), str(u), int(s), float(a))
        for o, u, s, a in zip(rows["order_id"], rows["user"], rows["status"], ack, strict=False)
    ]


@dataclass
class Sighting:
    """When an order was first seen final, and how precisely that is known (epoch seconds)."""

    ack_s: float
    final_s: float
    gap_s: float  # final poll's send time minus the last non-final observation


@dataclass
class OrderTracker:
    """Follows announced pending orders during load to time ack -> final (see module doc)."""

    url: str
    poll_interval_s: float = 0.5
    per_second: int = TRACK_PER_SECOND
    sightings: dict[str, Sighting] = field(default_factory=dict)
    address: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _session: Any = None
    _thread: threading.Thread | None = None
    _closing: float = 0.0  # epoch deadline after which polling stops (0 = none yet)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ready: threading.Event = field(default_factory=threading.Event)
    _admitted: dict[int, int] = field(default_factory=dict)
    announced: int = 0  # datagrams received
    followed: int = 0  # orders admitted to the sample

    def start(self) -> OrderTracker:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, args=(sock,), name="order-tracker", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        return self

    def _run(self, sock: socket.socket) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main(sock))
        self._loop.close()

    async def _main(self, sock: socket.socket) -> None:
        tracker = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                tracker._admit(data)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10.0)) as session:
            self._session = session
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Protocol, sock=sock)
            self._ready.set()
            try:
                while not self._closing or (self._tasks and time.time() < self._closing):
                    await asyncio.sleep(0.05)
            finally:
                transport.close()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _admit(self, data: bytes) -> None:
        self.announced += 1
        try:
            order_id, _user, ack, token = data.decode().split("\t")
        except ValueError:
            return
        second = int(time.time())
        if self._closing or self._admitted.get(second, 0) >= self.per_second:
            return
        self._admitted = {second: self._admitted.get(second, 0) + 1}
        self.followed += 1
        task = asyncio.get_running_loop().create_task(self._follow(order_id, float(ack), token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, order_id: str, ack_s: float, token: str) -> None:
        delay = FIRST_POLL_S
        last_seen = ack_s
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            await asyncio.sleep(max(0.0, last_seen + delay - time.time()))
            sent = time.time()
            try:
                async with self._session.get(f"{self.url}/orders/{order_id}", headers=headers) as response:
                    body = await response.read()
                    status = orjson.loads(body).get("status") if response.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
                status = None
            received = time.time()
            if status in FINAL:
                self.sightings[order_id] = Sighting(ack_s=ack_s, final_s=received, gap_s=sent - last_seen)
                return
            last_seen = received
            delay = min(delay * POLL_GROWTH, self.poll_interval_s)

    def finish(self, timeout_s: float) -> dict[str, Sighting]:
        """Stop admitting; let tracked orders finish for up to ``timeout_s``; return sightings."""
        self._closing = time.time() + timeout_s
        if self._thread is not None:
            self._thread.join(timeout_s + 5.0)
        return dict(self.sightings)


def time_to_final(sightings: Iterable[Sighting]) -> TimeToFinal:
    """Distribution of ack -> final (ms) with the median observation gap as resolution."""
    items = list(sightings)
    values = np.array([(s.final_s - s.ack_s) * 1000.0 for s in items])
    gaps = np.array([s.gap_s * 1000.0 for s in items])
    if len(values) == 0:
        return TimeToFinal(count=0, p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None, resolution_ms=None)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return TimeToFinal(count=len(values), p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99),
                       max_ms=float(values.max()), resolution_ms=float(np.median(gaps)))


async def _login_all(session: aiohttp.ClientSession, url: str, users: set[str],
                     passwords: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    limit = asyncio.Semaphore(LOGIN_CONCURRENCY)
    tokens: dict[str, str] = {}
    problems: list[str] = []

    async def login(user: str) -> None:
        if user not in passwords:
            problems.append(f"order owner {user!r} is not a seeded shopper")
            return
        async with limit, session.post(f"{url}/login",
                                       json={"username": user, "password": passwords[user]}) as response:
            body = await response.read()
            if response.status != 200:
                problems.append(f"login as {user} answered {response.status}")
                return
            tokens[user] = str(orjson.loads(body)["token"])

    await asyncio.gather(*(login(user) for user in sorted(users)))
    return tokens, problems


async def _reconcile(url: str, orders: list[AckedOrder], passwords: dict[str, str], admin_token: str,
                     config: IntegrityConfig, sightings: dict[str, Sighting]) -> tuple[dict[str, Any], list[str]]:
    timeout = aiohttp.ClientTimeout(total=30.0)
    connector = aiohttp.TCPConnector(limit=LOOKUP_CONCURRENCY)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tokens, problems = await _login_all(session, url, {o.user for o in orders}, passwords)
        limit = asyncio.Semaphore(LOOKUP_CONCURRENCY)
        status_of: dict[str, str] = {}
        last_seen = {o.order_id: o.ack_s for o in orders}
        seen_pending: set[str] = set()  # only these get a time-to-final (first look was not final)
        open_orders = {o.order_id: o for o in orders if o.user in tokens}
        any_async = any(o.status == 202 for o in orders)
        deadline = time.time() + (config.timeout if any_async else config.poll_interval * 2 + 5.0)

        async def look(order: AckedOrder) -> None:
            headers = {"Authorization": f"Bearer {tokens[order.user]}"}
            async with limit:
                sent = time.time()
                try:
                    async with session.get(f"{url}/orders/{order.order_id}", headers=headers) as response:
                        body = await response.read()
                        received = time.time()
                        if response.status != 200:
                            return
                        status = str(orjson.loads(body).get("status"))
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    return
            status_of[order.order_id] = status
            if status in FINAL:
                del open_orders[order.order_id]
                if order.order_id in seen_pending and order.order_id not in sightings:
                    sightings[order.order_id] = Sighting(order.ack_s, received, sent - last_seen[order.order_id])
            else:
                last_seen[order.order_id] = received
                seen_pending.add(order.order_id)

        rounds = 0
        while open_orders and (rounds < 2 or time.time() < deadline):
            rounds += 1
            await asyncio.gather(*(look(order) for order in list(open_orders.values())))
            if open_orders and time.time() < deadline:
                await asyncio.sleep(config.poll_interval)
        stats = await get_stats(session, url, admin_token)
    return {"status_of": status_of, "stats": stats, "open": len(open_orders)}, problems


def conservation(conserved_total: int, stats: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, notes) of ``stock_total + units_sold`` against its value after seeding (pure).

    Units a crash left in open reservations (``units_reserved``, microservices) are out of
    stock but not yet sold: a gap they explain is a note, not a failure; any other change
    is a failure.
    """
    after = conserved(stats)
    held = int(stats.get("units_reserved", 0) or 0)
    if not after <= conserved_total <= after + held:
        return [f"stock is not conserved: stock_total + units_sold went from {conserved_total} to "
                f"{after}" + (f" ({held} units held by open reservations)" if held else "")], []
    if after < conserved_total:
        return [], [f"{conserved_total - after} units are held by reservations a crash left open "
                    "(not lost: the reconciler releases or confirms them within a minute)"]
    return [], []


def check_integrity(url: str, orders: list[AckedOrder], credentials: list[tuple[str, str]],
                    admin_token: str, config: IntegrityConfig, *, conserved_total: int,
                    orders_before: int, sightings: dict[str, Sighting] | None = None) -> Integrity:
    """Reconcile ``orders`` against the target at ``url``; see the module docstring."""
    sightings = dict(sightings or {})
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # thousands of lookups: uvloop
        found_state, problems = runner.run(
            _reconcile(url, orders, dict(credentials), admin_token, config, sightings)
        )
    status_of: dict[str, str] = found_state["status_of"]
    stats: dict[str, Any] = found_state["stats"]
    acknowledged = len(orders)
    found = sum(1 for o in orders if o.order_id in status_of)
    final: dict[str, int] = {}
    for status in status_of.values():
        final[status] = final.get(status, 0) + 1
    not_final = sum(1 for s in status_of.values() if s not in FINAL)
    lost = acknowledged - found
    reasons = list(problems)
    if lost:
        reasons.append(f"{lost} of {acknowledged} acknowledged orders were never found (lost writes)")
    if not_final:
        reasons.append(f"{not_final} orders were still pending after {config.timeout:.0f}s")
    problem, notes = conservation(conserved_total, stats)
    reasons += problem
    orders_after = sum(int(v) for v in (stats.get("orders") or {}).values())
    if orders_after - orders_before < acknowledged:
        reasons.append(
            f"GET /stats counts {orders_after - orders_before} new orders, fewer than the "
            f"{acknowledged} acknowledged"
        )
    any_async = any(o.status == 202 for o in orders)
    result = Integrity(
        acknowledged=acknowledged, found=found, lost=lost, final=final, not_final=not_final,
        time_to_final=time_to_final(sightings.values()) if any_async else None,
        stats=stats, ok=not reasons, reasons=reasons, checked=True,
        lost_ids=sorted({o.order_id for o in orders if o.order_id not in status_of})[:MAX_IDS],
        not_final_ids=sorted(i for i, s in status_of.items() if s not in FINAL)[:MAX_IDS],
    )
    if notes:
        result["notes"] = notes
    return result


def integrity_unchecked(acknowledged: int, reason: str) -> Integrity:
    """An integrity record that proves nothing: ``checked`` false, not ok, "not checked: <reason>".

    ``acknowledged`` is what the samples show; found/lost/not_final are unknown (None).
    """
    return Integrity(acknowledged=acknowledged, found=None, lost=None, final={}, not_final=None,
                     time_to_final=None, stats={}, ok=False, reasons=[f"not checked: {reason}"],
                     checked=False)
