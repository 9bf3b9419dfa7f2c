"""The HTTP connection guard aiohttp's server lacks: a deadline for each request head.

aiohttp closes a connection that has not delivered a complete request within
``keepalive_timeout`` of opening it or of the previous answer (75 s under
``web.run_app``), but nothing shorter bounds a client that trickles a request
head a byte at a time (slowloris): each such connection holds a socket and a
parser for that long, and enough of them exhaust the file descriptors.

Public API (stable):

- ``GuardedRequestHandler(manager, *, loop, head_timeout_s, **handler_kwargs)``:
  aiohttp's ``web.RequestHandler`` (same keyword arguments: ``keepalive_timeout``,
  ``access_log``, ...) plus the head deadline: once the first byte of a request
  arrives on a connection that is not handling a request, the request's head must
  be complete within ``head_timeout_s`` seconds, or the connection is closed without
  an answer (the client has not finished asking). ``head_timeouts`` counts them.
- ``request_progress_middleware``: tells a ``GuardedRequestHandler`` when a
  request's head has arrived (its handler starts) and when its handler is done;
  ``targets.common.http.new_application`` installs it first. Without a guarded
  protocol (e.g. aiohttp's test server) it does nothing.

The body deadline is ``targets.common.http``'s (``new_application(body_timeout_s=)``);
``targets.common.serve`` serves every target with this handler.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("targets.protocol")


class GuardedRequestHandler(web.RequestHandler):
    """``web.RequestHandler`` closing connections whose request head is not complete in time."""

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        head_timeout_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._guard_loop = loop
        self.head_timeout_s = head_timeout_s
        self.head_timeouts = 0  # connections this handler closed for a late head (0 or 1)
        self._head_timer: asyncio.TimerHandle | None = None
        self._handling = 0  # requests whose handler runs (more than 1 only when pipelined)

    def data_received(self, data: bytes) -> None:
        # Bytes on a connection between requests begin a request head: start its clock.
        if data and not self._handling and self._head_timer is None:
            self._head_timer = self._guard_loop.call_later(self.head_timeout_s, self._head_late)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def request_started(self) -> None:
        """A request's head arrived and its handler starts: the head deadline is met."""
        self._handling += 1
        self._stop_head_timer()

    def request_finished(self) -> None:
        """A request's handler is done: bytes from now on begin the next head."""
        self._handling = max(0, self._handling - 1)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._handling or self.transport is None:
            return
        self.head_timeouts += 1
        peer = self.transport.get_extra_info("peername")
        log.info(
            "closing connection from %s: request head not complete in %g s",
            peer,
            self.head_timeout_s,
        )
        self.force_close()


@web.middleware
async def request_progress_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Mark the request as being handled on its ``GuardedRequestHandler`` (if any)."""
    protocol = request.protocol
    if not isinstance(protocol, GuardedRequestHandler):
        return await handler(request)
    protocol.request_started()
    try:
        return await handler(request)
    finally:
        protocol.request_finished()
