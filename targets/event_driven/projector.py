"""Event-driven ``projector``: moves orders from ``pending`` to their final status.

``python -m targets.event_driven.projector``. Consumes the results channel
(``OrderConfirmed``/``OrderRejected``) and runs ``UPDATE orders ... WHERE id = $1
AND status = 'pending'``: applying a result twice, or after the order reached its
final status, changes nothing. The event is acked after the update commits.
"""

from __future__ import annotations

from aiohttp import web

from targets.common.config import ServiceConfig
from targets.common.serve import serve
from targets.event_driven import broker, events, store
from targets.event_driven.consumer_app import ConsumerContext, ConsumerSettings, create_consumer_app

DURABLE = "projector"


def make_handler(context: ConsumerContext) -> events.Handler:
    """The result handler: project the status (the adapter acks on return)."""

    async def handle(data: bytes) -> None:
        await store.project_result(context.pool, events.OrderResult.decode(data))

    return handle


def create_app(config: ServiceConfig, settings: ConsumerSettings | None = None) -> web.Application:
    """The projector service: the ``projector`` durable consumer of the results channel."""
    return create_consumer_app(
        config,
        durable=DURABLE,
        channel="results",
        make_handler=make_handler,
        settings=settings,
    )


def main() -> None:
    serve(create_app, require=("DATABASE_URL", *broker.required_env()))


if __name__ == "__main__":
    main()
