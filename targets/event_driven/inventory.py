"""Event-driven ``inventory``: reserves stock for each ``OrderPlaced`` exactly once.

``python -m targets.event_driven.inventory``. For every event, in one
transaction (``store.reserve_stock``): if the order already has a reservation
row nothing happens; otherwise every item's stock is taken (``stock >=
quantity``, products locked in id order) or none is, and the decision is
recorded. Only after the commit is ``OrderConfirmed``/``OrderRejected``
published (through ``broker.Broker``; the handler returning is what lets the adapter
ack the event or commit its offset), and only then is the event acked. A crash before the ack means a redelivery, which finds the reservation
row and re-publishes the recorded decision, so the order still reaches its final
status and stock is reserved once.

Test hook: ``INVENTORY_CRASH_AFTER_COMMIT=1`` makes the process ``os._exit`` right
after committing its first fresh reservation, before publishing or acking (the
crash window the idempotency exists for).
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from targets.common.config import ServiceConfig
from targets.common.serve import serve
from targets.event_driven import broker, events, store
from targets.event_driven.consumer_app import ConsumerContext, ConsumerSettings, create_consumer_app

log = logging.getLogger("targets.event_driven.inventory")

DURABLE = "inventory"
CRASH_EXIT_CODE = 75  # status of the test-hook crash (EX_TEMPFAIL)


def make_handler(context: ConsumerContext) -> events.Handler:
    """The ``OrderPlaced`` handler: reserve, publish the decision (the adapter acks on return)."""

    async def handle(data: bytes) -> None:
        event = events.OrderPlaced.decode(data)
        reservation = await store.reserve_stock(context.pool, event)
        if reservation.fresh and context.settings.crash_after_commit:
            log.warning("INVENTORY_CRASH_AFTER_COMMIT: exiting after committing %s", event.order_id)
            os._exit(CRASH_EXIT_CODE)
        if reservation.outcome != "cancelled":
            # Re-published on redelivery too: the first attempt may have died before it.
            result = events.OrderResult(event.order_id, reservation.outcome)
            await context.broker.publish_result(result)

    return handle


def create_app(config: ServiceConfig, settings: ConsumerSettings | None = None) -> web.Application:
    """The inventory service: the ``inventory`` durable consumer of the placed channel."""
    return create_consumer_app(
        config,
        durable=DURABLE,
        channel="placed",
        make_handler=make_handler,
        settings=settings,
    )


def main() -> None:
    serve(create_app, require=("DATABASE_URL", *broker.required_env()))


if __name__ == "__main__":
    main()
