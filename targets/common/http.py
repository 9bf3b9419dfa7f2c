"""HTTP plumbing shared by every target: JSON responses, errors, parsing, validators.

Public API (stable):

- ``json_response(data, status=200) -> web.Response``: body serialised with orjson.
- ``error_response(status, code, message) -> web.Response``: ``{"error","message"}``.
- ``ApiError(status, code, message, *, close=False)``: raise from a handler to answer
  with that error (``close``: and close the connection afterwards).
- ``ValidationError(message)``: an ``ApiError`` with 400 ``invalid``.
- ``error_middleware``: turns ``ApiError``, every ``web.HTTPException`` (404 unknown
  route, 405, 413 body too large, ...) into the JSON error shape, a lost
  dependency (``UNAVAILABLE_ERRORS``: refused/reset connections, timeouts,
  PostgreSQL connection errors) into 503 ``unavailable``, and any other
  exception into a logged 500 ``internal``. A connection error while the
  client's own connection is gone (it hung up mid-request) is logged as a client
  disconnect, not as a lost dependency, and answered 499 (nobody receives it).
- ``UNAVAILABLE_ERRORS``: the exception types answered with 503.
- ``client_disconnected(request, exc) -> bool``: whether ``exc`` means the client left.
- ``body_deadline_middleware(timeout_s)``: reads a request's body before its
  handler runs, at most ``timeout_s`` seconds after the head arrived, else 408
  ``timeout`` and the connection is closed (a client trickling its body cannot
  hold a connection and a handler); handlers then read the body from memory.
- ``new_application(max_body_bytes, *, body_timeout_s=10, middlewares=())
  -> web.Application``: an app with ``client_max_size`` set and, in this order,
  ``request_progress_middleware`` (``targets.common.protocol``), ``error_middleware``
  and ``body_deadline_middleware(body_timeout_s)`` first.
- ``read_json_object(request) -> dict``: body as a JSON object, else 400 (413 if too big).
- Validators raising ``ValidationError`` with a message naming the field:
  ``get_int(obj, field, minimum=, maximum=)``, ``get_str(obj, field, min_length=,
  max_length=, pattern=None)``, ``get_list(obj, field, min_items=, max_items=)``,
  ``query_int(query, name, default=, minimum=, maximum=)``, ``path_int(request, name)``.
- ``parse_path_id(raw, name) -> int``: an id path segment in its one canonical
  spelling (``[1-9][0-9]*``, at most ``MAX_BIGINT``); any other spelling of an
  integer (leading zeros, a sign, surrounding whitespace, 0, negative, beyond
  bigint) names no row: 404 ``not_found``, as for an unknown id (``/products/01``
  is not product 1); text that is no integer at all is 400 ``invalid``.
- ``MAX_BIGINT``: largest PostgreSQL ``bigint`` (ids above it cannot exist).
- ``health_handler(*checks, ok_ttl_s=0.0)``: a ``GET /health`` handler; each check
  is an ``async (app) -> None`` that raises when its dependency is unreachable
  (200 ``{"status":"ok"}`` or 503 ``unavailable`` naming the failure). Its probe is
  a ``HealthProbe``: concurrent requests share one probe in flight, so health
  requests never multiply the load on the dependencies.
- ``HealthProbe(*checks, ok_ttl_s=0.0, clock=time.monotonic)``: that probe. ``await probe.verdict(app)``
  -> None (healthy) or the failure message; one probe runs at a time and every
  caller arriving meanwhile gets its verdict. A healthy verdict is reused for
  ``ok_ttl_s`` seconds (0: never; each request after a probe ends starts a new
  one); an unhealthy one never is. ``probe.invalidate()`` forgets the cached verdict
  (e.g. when a request just saw a dependency fail). ``probe.handler`` is the route
  handler.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from targets.common.protocol import request_progress_middleware

log = logging.getLogger("targets.http")

MAX_BIGINT = 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]+")
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")  # 19 digits at most: MAX_BIGINT has 19
_INT_SPELLING = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_MAX_INT_DIGITS = 20  # longer digit strings are out of every range we accept
DEFAULT_BODY_TIMEOUT_S = 10.0  # seconds a request body may take once its head arrived
CLIENT_CLOSED = 499  # logged for a request whose client hung up (nginx's convention)

STATUS_CODES: dict[int, str] = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    500: "internal",
    503: "unavailable",
}


# A dependency (database, broker, another service) did not answer: the client may retry,
# so these are 503 ``unavailable`` rather than 500. aiohttp's ClientConnectionError
# subclasses OSError only in part, so callers of other services map it themselves.
# A ConnectionResetError can also be the client's own connection (it hung up while its
# body was read): ``client_disconnected`` tells the two apart.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError from a dependency, ...
    TimeoutError,  # also asyncio.TimeoutError: pool acquire, command timeouts
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, connection lost mid-query
    asyncpg.CannotConnectNowError,  # server starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    # A pooled connection the server's crash broke mid-operation can fail the next use with
    # "cannot switch to state ...; another operation is in progress" or "connection is
    # closed" rather than a connection error (seen killing PostgreSQL under load).
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    """The contract's error shape: ``{"error": code, "message": message}``."""
    return json_response({"error": code, "message": message}, status=status)


class ApiError(Exception):
    """An error answer: raise it from a handler, ``error_middleware`` renders it."""

    def __init__(self, status: int, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.close = close  # close the connection after answering


class ValidationError(ApiError):
    """Bad input: 400 ``invalid`` with a message naming the field."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid", message)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as JSON; a 500 is logged with its traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.close:
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = STATUS_CODES.get(exc.status, "error")
        message = (exc.text if exc.status == 413 else exc.reason) or code
        response = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except UNAVAILABLE_ERRORS as exc:
        if client_disconnected(request, exc):
            log.info(
                "client disconnected during %s %s (%s)",
                request.method,
                request.path,
                exc.__class__.__name__,
            )
            return error_response(
                CLIENT_CLOSED, "client_closed", "the client closed the connection"
            )
        log.warning(
            "dependency unavailable on %s %s: %s: %s",
            request.method,
            request.path,
            exc.__class__.__name__,
            exc,
        )
        return error_response(503, "unavailable", "a dependency is unavailable; try again")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")


def client_disconnected(request: web.Request, exc: BaseException) -> bool:
    """Whether ``exc`` is the client's connection failing (it is closed or closing)."""
    if not isinstance(exc, ConnectionError):
        return False
    transport = request.transport
    return transport is None or transport.is_closing()


def body_deadline_middleware(timeout_s: float) -> Any:
    """A middleware reading each request body within ``timeout_s`` seconds (else 408)."""

    @web.middleware
    async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()  # kept by aiohttp: request.read() returns it again
            except TimeoutError:
                raise ApiError(
                    408, "timeout", f"request body not received within {timeout_s:g} s", close=True
                ) from None
        return await handler(request)

    return body_deadline


def new_application(
    max_body_bytes: int,
    *,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    middlewares: Iterable[Any] = (),
) -> web.Application:
    """An ``Application`` limiting bodies to ``max_body_bytes`` (and ``body_timeout_s``)."""
    return web.Application(
        client_max_size=max_body_bytes,
        middlewares=[
            request_progress_middleware,
            error_middleware,
            body_deadline_middleware(body_timeout_s),
            *middlewares,
        ],
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body parsed as a JSON object; 400 if it is not one, 413 if too big."""
    body = await request.read()
    if not body:
        raise ValidationError("request body must be a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    return data


def get_int(obj: Mapping[str, Any], field: str, *, minimum: int, maximum: int) -> int:
    """``obj[field]`` as an int in ``minimum..maximum`` (booleans and floats rejected)."""
    if field not in obj:
        raise ValidationError(f"{field} is required")
    value = obj[field]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{field} must be an integer")
    if not minimum <= value <= maximum:
        raise ValidationError(f"{field} must be between {minimum} and {maximum}")
    return value


def get_str(
    obj: Mapping[str, Any],
    field: str,
    *,
    min_length: int,
    max_length: int,
    pattern: re.Pattern[str] | None = None,
) -> str:
    """``obj[field]`` as a string of ``min_length..max_length`` characters.

    NUL characters are always rejected (PostgreSQL text cannot store them).
    ``pattern`` must match the whole string.
    """
    if field not in obj:
        raise ValidationError(f"{field} is required")
    value = obj[field]
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string")
    if not min_length <= len(value) <= max_length:
        raise ValidationError(f"{field} must be {min_length} to {max_length} characters long")
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(f"{field} has characters that are not allowed")
    return value


def get_list(obj: Mapping[str, Any], field: str, *, min_items: int, max_items: int) -> list[Any]:
    """``obj[field]`` as a JSON array of ``min_items..max_items`` elements."""
    if field not in obj:
        raise ValidationError(f"{field} is required")
    value = obj[field]
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be an array")
    if not min_items <= len(value) <= max_items:
        raise ValidationError(f"{field} must have {min_items} to {max_items} elements")
    return value


def query_int(
    query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int
) -> int:
    """Query parameter ``name`` as an int in ``minimum..maximum``; ``default`` if absent."""
    raw = query.get(name)
    if raw is None:
        return default
    if not _INT_TEXT.fullmatch(raw):
        raise ValidationError(f"{name} must be an integer")
    value = int(raw) if len(raw) <= _MAX_INT_DIGITS else maximum + 1
    if not minimum <= value <= maximum:
        raise ValidationError(f"{name} must be between {minimum} and {maximum}")
    return value


def parse_path_id(raw: str, name: str) -> int:
    """``raw`` as a canonical id; 404 for other spellings of integers, 400 for non-integers."""
    if _CANONICAL_ID.fullmatch(raw):
        value = int(raw)
        if value <= MAX_BIGINT:
            return value
    if _INT_SPELLING.fullmatch(raw):
        raise ApiError(404, "not_found", f"{name} {raw} not found")
    raise ValidationError(f"{name} must be an integer")


def path_int(request: web.Request, name: str) -> int:
    """Path segment ``name`` as a canonical id (``parse_path_id``: else 404 or 400)."""
    return parse_path_id(request.match_info[name], name)


HealthCheck = Callable[[web.Application], Awaitable[None]]


class HealthProbe:
    """The checks of ``GET /health``, run once for all concurrent callers (see module doc)."""

    def __init__(
        self,
        *checks: HealthCheck,
        ok_ttl_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = checks
        self.ok_ttl_s = ok_ttl_s
        self.clock = clock  # seconds, for the TTL
        self.probes = 0  # probes started so far (how much load health requests caused)
        self._in_flight: asyncio.Future[str | None] | None = None
        self._ok_until = 0.0  # clock() until which "healthy" is reused
        self._generation = 0  # bumped by invalidate(): a probe begun before does not cache

    def invalidate(self) -> None:
        """Forget the cached verdict; the next caller starts a new probe."""
        self._generation += 1
        self._ok_until = 0.0
        self._in_flight = None  # callers already waiting keep their probe's verdict

    async def verdict(self, app: web.Application) -> str | None:
        """None when every check passes, else ``"<check>: <Error>: <message>"``."""
        if self.ok_ttl_s > 0 and self.clock() < self._ok_until:
            return None
        probe = self._in_flight
        if probe is None:
            self.probes += 1
            probe = asyncio.ensure_future(self._probe(app, self._generation))
            probe.add_done_callback(self._done)
            self._in_flight = probe
        # shield: a caller going away must not cancel the probe the others wait for
        return await asyncio.shield(probe)

    def _done(self, probe: asyncio.Future[str | None]) -> None:
        if self._in_flight is probe:
            self._in_flight = None

    async def _probe(self, app: web.Application, generation: int) -> str | None:
        for check in self.checks:
            try:
                await check(app)
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", not a 500
                name = getattr(check, "__name__", "dependency")
                return f"{name}: {exc.__class__.__name__}: {exc}"
        if generation == self._generation:
            self._ok_until = self.clock() + self.ok_ttl_s
        return None

    async def handler(self, request: web.Request) -> web.Response:
        """The ``GET /health`` route handler."""
        failure = await self.verdict(request.app)
        if failure is not None:
            return error_response(503, "unavailable", failure)
        return json_response({"status": "ok"})


def health_handler(
    *checks: HealthCheck, ok_ttl_s: float = 0.0
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A ``GET /health`` handler running ``checks`` through one ``HealthProbe``."""
    return HealthProbe(*checks, ok_ttl_s=ok_ttl_s).handler
