"""Service-to-service HTTP: keep-alive client pools and the internal-secret check.

Each worker process opens one ``aiohttp.ClientSession`` (in ``cleanup_ctx``)
whose ``TCPConnector`` keeps connections to the other services open between
requests, so a forwarded request does not pay a TCP handshake.

Settings come from environment variables (parsed once, at start):

- ``HTTP_POOL_SIZE`` [100]: connections per worker, all upstream services together.
- ``HTTP_KEEPALIVE_S`` [30, seconds]: how long an idle pooled connection is kept;
  below aiohttp's server keep-alive (75 s) so the client closes first and never
  reuses a connection the server is closing. ``0`` turns pooling off (a new
  connection per call: only to measure what the pool saves).
- ``UPSTREAM_TIMEOUT_S`` [10, seconds]: total time allowed for one upstream call.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from targets.common.config import ServiceConfigError
from targets.common.http import ApiError

INTERNAL_HEADER = "X-Internal-Secret"

HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)


@dataclass(frozen=True)
class UpstreamSettings:
    pool_size: int = 100  # connections per worker process
    keepalive_s: float = 30.0  # seconds an idle connection stays pooled (0: no pooling)
    timeout_s: float = 10.0  # seconds for one whole upstream call


def _number(
    env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ServiceConfigError(f"{name}={raw!r} is not a number") from None
    if not minimum <= value <= maximum:
        raise ServiceConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def load_upstream_settings(environ: Mapping[str, str] | None = None) -> UpstreamSettings:
    """Parse the HTTP client settings (see module doc) from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    return UpstreamSettings(
        pool_size=int(_number(env, "HTTP_POOL_SIZE", 100, 1, 10_000)),
        keepalive_s=_number(env, "HTTP_KEEPALIVE_S", 30.0, 0.0, 3600.0),
        timeout_s=_number(env, "UPSTREAM_TIMEOUT_S", 10.0, 0.1, 600.0),
    )


def http_client_ctx(
    settings: UpstreamSettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry storing a pooled ``ClientSession`` under ``HTTP_CLIENT``."""

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        pooled = settings.keepalive_s > 0
        connector = aiohttp.TCPConnector(
            limit=settings.pool_size,
            keepalive_timeout=settings.keepalive_s if pooled else None,
            force_close=not pooled,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
            auto_decompress=False,  # bodies are passed through as they are
            raise_for_status=False,
        )
        app[HTTP_CLIENT] = session
        yield
        await session.close()

    return http_client


def internal_headers(secret: str) -> dict[str, str]:
    """Headers that authenticate a call to another service's ``/internal`` endpoint."""
    return {INTERNAL_HEADER: secret}


def require_internal(request: web.Request, secret: str) -> None:
    """Refuse a call without the internal secret: 401 if absent, 403 if wrong.

    An empty configured secret refuses everything (internal endpoints must not
    be open by accident).
    """
    given = request.headers.get(INTERNAL_HEADER)
    if not given:
        raise ApiError(401, "unauthorized", f"{INTERNAL_HEADER} header required")
    # surrogateescape: undecodable header bytes (lone surrogates) compare as the bytes sent
    given_bytes = given.encode("utf-8", "surrogateescape")
    if not secret or not hmac.compare_digest(given_bytes, secret.encode()):
        raise ApiError(403, "forbidden", f"invalid {INTERNAL_HEADER}")


UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
"""Exceptions meaning "the other service did not answer" (-> 503 ``unavailable``)."""
