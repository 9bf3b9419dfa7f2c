"""Keeping catalog's reservations in agreement with the orders actually stored.

The order saga has one window no synchronous compensation can close: the
orders process dies (or loses its database) after catalog reserved the stock
and before, or while, the order is stored. Each orders worker runs a
background task that

- every ``FLUSH_INTERVAL_S`` sends catalog the ids of orders it stored
  (``confirm``, in batches, off the request path), and
- at start and every ``SWEEP_INTERVAL_S`` asks catalog for reservations still
  open after ``stale_after_s`` seconds: an order stored in the orders database
  is confirmed, any other is released (its order never came to exist).

``stale_after_s`` (``stale_after``) is well above the longest a request
handler can hold a reservation without deciding (the catalog call's timeout,
which bounds how long the reservation transaction ran, plus
``STORE_TIMEOUT_S``), so the sweep never releases a reservation whose order
is still being stored.
Everything here is idempotent: several workers may sweep at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import asyncpg

from targets.microservices.catalog_client import CatalogClient

log = logging.getLogger("targets.microservices.reconcile")

FLUSH_INTERVAL_S = 1.0  # seconds between confirmation batches
SWEEP_INTERVAL_S = 15.0  # seconds between sweeps for stale reservations
MIN_STALE_AFTER_S = 60  # seconds a reservation stays open at least before the sweep decides it
STORE_TIMEOUT_S = 15.0  # seconds a handler may spend storing an order
BATCH = 1000  # order ids per confirm call / stale listing (catalog's maximum)
MAX_PENDING = 100_000  # confirmations kept in memory; beyond, the sweep confirms them


@dataclass
class Confirmations:
    """Order ids stored but not yet reported to catalog (per worker process)."""

    pending: list[uuid.UUID] = field(default_factory=list)

    def add(self, order_id: uuid.UUID) -> None:
        if len(self.pending) < MAX_PENDING:
            self.pending.append(order_id)

    def take(self, limit: int) -> list[uuid.UUID]:
        batch = self.pending[:limit]
        del self.pending[:limit]
        return batch

    def give_back(self, batch: list[uuid.UUID]) -> None:
        room = MAX_PENDING - len(self.pending)
        self.pending[:0] = batch[:room]


async def flush(catalog: CatalogClient, confirmations: Confirmations) -> int:
    """Send every pending confirmation; returns how many were sent. Failed batches are kept."""
    sent = 0
    while batch := confirmations.take(BATCH):
        try:
            await catalog.confirm(batch)
        except BaseException:
            confirmations.give_back(batch)
            raise
        sent += len(batch)
    return sent


def stale_after(upstream_timeout_s: float) -> int:
    """Seconds after which an open reservation is surely abandoned by its request handler."""
    return max(MIN_STALE_AFTER_S, int(2 * (upstream_timeout_s + STORE_TIMEOUT_S)) + 1)


async def sweep(catalog: CatalogClient, pool: asyncpg.Pool, stale_after_s: int) -> tuple[int, int]:
    """Decide reservations open for over ``stale_after_s`` seconds; ``(confirmed, released)``."""
    confirmed = released = 0
    while True:
        stale = await catalog.stale(stale_after_s, BATCH)
        if not stale:
            return confirmed, released
        rows = await pool.fetch("SELECT id FROM orders WHERE id = ANY($1::uuid[])", stale)
        stored = {row["id"] for row in rows}
        if stored:
            await catalog.confirm(sorted(stored))
            confirmed += len(stored)
        for order_id in stale:
            if order_id not in stored:
                log.warning("releasing reservation %s: its order was never stored", order_id)
                await catalog.release(order_id)
                released += 1
        if len(stale) < BATCH:
            return confirmed, released


async def run_reconciler(
    catalog: CatalogClient, pool: asyncpg.Pool, confirmations: Confirmations, stale_after_s: int
) -> None:
    """Flush confirmations and sweep stale reservations until cancelled."""
    next_sweep = 0.0  # sweep at once: a previous process may have died mid-order
    while True:
        try:
            await flush(catalog, confirmations)
            if time.monotonic() >= next_sweep:
                confirmed, released = await sweep(catalog, pool, stale_after_s)
                next_sweep = time.monotonic() + SWEEP_INTERVAL_S
                if confirmed or released:
                    log.info("sweep: confirmed %d, released %d", confirmed, released)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - catalog or database down: next round
            log.warning("reconcile round failed: %r", exc)
        await asyncio.sleep(FLUSH_INTERVAL_S)
