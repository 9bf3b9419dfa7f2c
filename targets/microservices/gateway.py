"""Gateway: the entry point of the microservices target.

Routes each public request to ``users``, ``catalog`` or ``orders`` over
keep-alive connection pools and passes the answer back unchanged (status,
body, content type). Routes that need a token are refused with 401 here,
before any forwarding; the ``Authorization`` header is forwarded so the
service behind verifies the token (and the role) too. ``GET /stats`` (admin)
aggregates the services' internal statistics into the contract's shape.
``GET /health`` is 200 only when all three services report healthy. It does not
multiply load: concurrent health requests share one probe of the three
services (``HealthProbe``), a healthy verdict is reused for ``HEALTH_OK_TTL_S``
seconds, and the probe has its own small connection pool, so it neither queues
behind forwarded traffic nor adds to it. A forwarded request that finds a
service down (no answer, or a 5xx) drops the cached verdict at once.
A service that does not answer gives 503 ``unavailable``, never a 500.
Request headers that are not valid UTF-8 (undecodable bytes) are not forwarded:
a token route has refused such a token already, and no other route reads them.

Run with ``python -m targets.microservices.gateway``; configured by
``USERS_URL``, ``CATALOG_URL``, ``ORDERS_URL``, ``TOKEN_SECRET``,
``INTERNAL_SECRET``, the common variables (``targets.common.config``) and the
HTTP pool variables (``targets.microservices.upstream``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from targets.common.auth import bearer_claims, require_admin
from targets.common.config import ServiceConfig
from targets.common.http import HealthProbe, error_response, json_response, new_application
from targets.common.serve import serve
from targets.microservices.upstream import (
    HTTP_CLIENT,
    UPSTREAM_ERRORS,
    UpstreamSettings,
    http_client_ctx,
    internal_headers,
    load_upstream_settings,
)

Upstream = Literal["users", "catalog", "orders"]

CONFIG = web.AppKey("config", ServiceConfig)
HEALTH = web.AppKey("health", HealthProbe)
HEALTH_CLIENT = web.AppKey("health_client", aiohttp.ClientSession)

HEALTH_TIMEOUT_S = 2.0  # seconds a downstream /health may take before it counts as down
HEALTH_OK_TTL_S = 1.0  # seconds a healthy verdict is reused (a failure is never reused)
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Authorization", "Accept")


def upstream_url(config: ServiceConfig, upstream: Upstream) -> str:
    """Base URL (no trailing slash) of a downstream service."""
    return {"users": config.users_url, "catalog": config.catalog_url, "orders": config.orders_url}[
        upstream
    ]


def _unavailable(request: web.Request, upstream: Upstream) -> web.Response:
    request.app[HEALTH].invalidate()
    return error_response(503, "unavailable", f"{upstream} service unavailable")


def _forwardable(value: str) -> bool:
    """Whether a header value is text (aiohttp decodes undecodable bytes to surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def forward(
    upstream: Upstream, *, token: bool = False
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler passing the request to ``upstream`` and its answer back unchanged.

    ``token=True``: 401 without a valid bearer token, checked before forwarding.
    """

    async def handler(request: web.Request) -> web.Response:
        config = request.app[CONFIG]
        if token:
            bearer_claims(request, config.token_secret)
        body = await request.read() if request.body_exists else None  # 413 past the limit
        headers = {
            name: request.headers[name]
            for name in FORWARDED_REQUEST_HEADERS
            if name in request.headers and _forwardable(request.headers[name])
        }
        url = URL(upstream_url(config, upstream) + request.raw_path, encoded=True)
        try:
            async with request.app[HTTP_CLIENT].request(
                request.method, url, data=body, headers=headers
            ) as response:
                payload = await response.read()
                content_type = response.headers.get("Content-Type")
                status = response.status
        except UPSTREAM_ERRORS:
            return _unavailable(request, upstream)
        if status >= 500:
            request.app[HEALTH].invalidate()
        answer = web.Response(status=status, body=payload)
        if content_type:
            answer.headers["Content-Type"] = content_type
        return answer

    return handler


async def _internal_stats(app: web.Application, upstream: Upstream) -> dict[str, Any]:
    config = app[CONFIG]
    async with app[HTTP_CLIENT].get(
        f"{upstream_url(config, upstream)}/internal/stats",
        headers=internal_headers(config.internal_secret),
    ) as response:
        body = await response.read()
        if response.status != 200:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=body[:200].decode()
            )
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise aiohttp.ClientPayloadError(f"{upstream} stats are not a JSON object")
        return data


def aggregate_stats(
    users: dict[str, Any], catalog: dict[str, Any], orders: dict[str, Any]
) -> dict[str, Any]:
    """The contract's ``/stats`` body from the three services' internal statistics."""
    counts = orders["orders"]
    return {
        "users": users["users"],
        "products": catalog["products"],
        "orders": {s: counts.get(s, 0) for s in ("pending", "confirmed", "rejected")},
        "stock_total": catalog["stock_total"],
        # units of open reservations (see catalog_store.stats), when catalog reports them
        **({"units_reserved": catalog["units_reserved"]} if "units_reserved" in catalog else {}),
        "units_sold": orders["units_sold"],
        **({"cache": catalog["cache"]} if "cache" in catalog else {}),  # microservices-redis
    }


async def stats(request: web.Request) -> web.Response:
    require_admin(bearer_claims(request, request.app[CONFIG].token_secret))
    names: tuple[Upstream, ...] = ("users", "catalog", "orders")
    results = await asyncio.gather(
        *(_internal_stats(request.app, name) for name in names), return_exceptions=True
    )
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, (*UPSTREAM_ERRORS, ValueError)):
                return _unavailable(request, name)
            raise result
    users, catalog, orders = results
    return json_response(aggregate_stats(users, catalog, orders))  # type: ignore[arg-type]


async def health_client_ctx(app: web.Application) -> AsyncIterator[None]:
    """The probe's own pool: one keep-alive connection per downstream service."""
    connector = aiohttp.TCPConnector(limit=6, keepalive_timeout=30.0)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S),
        raise_for_status=False,
    )
    app[HEALTH_CLIENT] = session
    yield
    await session.close()


async def downstream_services(app: web.Application) -> None:
    """Raise naming every downstream service whose ``/health`` is not 200."""
    config = app[CONFIG]
    session = app[HEALTH_CLIENT]

    async def healthy(upstream: Upstream) -> bool:
        try:
            async with session.get(f"{upstream_url(config, upstream)}/health") as response:
                await response.read()
                return response.status == 200
        except UPSTREAM_ERRORS:
            return False

    names: tuple[Upstream, ...] = ("users", "catalog", "orders")
    answers = await asyncio.gather(*(healthy(name) for name in names))
    down = [name for name, ok in zip(names, answers, strict=True) if not ok]
    if down:
        raise ConnectionError(f"not healthy: {', '.join(down)}")


def create_app(config: ServiceConfig, upstream: UpstreamSettings | None = None) -> web.Application:
    """The gateway application (``upstream``: HTTP pool settings, default from env)."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config
    app[HEALTH] = HealthProbe(downstream_services, ok_ttl_s=HEALTH_OK_TTL_S)
    app.cleanup_ctx.append(http_client_ctx(upstream or load_upstream_settings()))
    app.cleanup_ctx.append(health_client_ctx)
    app.add_routes(
        [
            web.get("/health", app[HEALTH].handler),
            web.post("/users", forward("users")),
            web.post("/login", forward("users")),
            web.get("/products", forward("catalog")),
            web.get("/products/{id}", forward("catalog")),
            web.post("/products", forward("catalog", token=True)),
            web.post("/orders", forward("orders", token=True)),
            web.get("/orders/{id}", forward("orders", token=True)),
            web.get("/stats", stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("USERS_URL", "CATALOG_URL", "ORDERS_URL", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
