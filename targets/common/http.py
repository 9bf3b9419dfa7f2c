"""HTTP plumbing shared by every target: JSON responses, errors, parsing, validators.

Public API (stable):

- ``json_response(data, status=200) -> web.Response``: body serialised with orjson.
- ``error_response(status, code, message) -> web.Response``: ``{"error","message"}``.
- ``ApiError(status, code, message)``: raise from a handler to answer with that error.
- ``ValidationError(message)``: an ``ApiError`` with 400 ``invalid``.
- ``error_middleware``: turns ``ApiError``, every ``web.HTTPException`` (404 unknown
  route, 405, 413 body too large, ...) into the JSON error shape, a lost
  dependency (``UNAVAILABLE_ERRORS``: refused/reset connections, timeouts,
  PostgreSQL connection errors) into 503 ``unavailable``, and any other
  exception into a logged 500 ``internal``.
- ``UNAVAILABLE_ERRORS``: the exception types answered with 503.
- ``new_application(max_body_bytes, *, middlewares=()) -> web.Application``: an app
  with ``client_max_size`` set and ``error_middleware`` first.
- ``read_json_object(request) -> dict``: body as a JSON object, else 400 (413 if too big).
- Validators raising ``ValidationError`` with a message naming the field:
  ``get_int(obj, field, minimum=, maximum=)``, ``get_str(obj, field, min_length=,
  max_length=, pattern=None)``, ``get_list(obj, field, min_items=, max_items=)``,
  ``query_int(query, name, default=, minimum=, maximum=)``, ``path_int(request, name)``.
- ``MAX_BIGINT``: largest PostgreSQL ``bigint`` (ids above it cannot exist).
- ``health_handler(*checks)``: a ``GET /health`` handler; each check is an
  ``async (app) -> None`` that raises when its dependency is unreachable
  (200 ``{"status":"ok"}`` or 503 ``unavailable`` naming the failure).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("targets.http")

MAX_BIGINT = 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]+")
_MAX_INT_DIGITS = 20  # longer digit strings are out of every range we accept

STATUS_CODES: dict[int, str] = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    500: "internal",
    503: "unavailable",
}


# A dependency (database, broker, another service) did not answer: the client may retry,
# so these are 503 ``unavailable`` rather than 500. aiohttp's ClientConnectionError
# subclasses OSError only in part, so callers of other services map it themselves.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, ...
    TimeoutError,  # also asyncio.TimeoutError: pool acquire, command timeouts
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, connection lost mid-query
    asyncpg.CannotConnectNowError,  # server starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    """The contract's error shape: ``{"error": code, "message": message}``."""
    return json_response({"error": code, "message": message}, status=status)


class ApiError(Exception):
    """An error answer: raise it from a handler, ``error_middleware`` renders it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


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
        return error_response(exc.status, exc.code, exc.message)
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


def new_application(max_body_bytes: int, *, middlewares: Iterable[Any] = ()) -> web.Application:
    """An ``Application`` limiting bodies to ``max_body_bytes`` with JSON errors."""
    return web.Application(
        client_max_size=max_body_bytes, middlewares=[error_middleware, *middlewares]
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


def path_int(request: web.Request, name: str) -> int:
    """Path segment ``name`` as an int; 400 if not an integer, 404 if no row can have it."""
    raw = request.match_info[name]
    if not _INT_TEXT.fullmatch(raw):
        raise ValidationError(f"{name} must be an integer")
    value = int(raw) if len(raw) <= _MAX_INT_DIGITS else 0
    if not 1 <= value <= MAX_BIGINT:
        raise ApiError(404, "not_found", f"{name} {raw} not found")
    return value


HealthCheck = Callable[[web.Application], Awaitable[None]]


def health_handler(*checks: HealthCheck) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A ``GET /health`` handler running ``checks`` (each raises when its dependency is down)."""

    async def health(request: web.Request) -> web.Response:
        for check in checks:
            try:
                await check(request.app)
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", not a 500
                name = getattr(check, "__name__", "dependency")
                message = f"{name}: {exc.__class__.__name__}: {exc}"
                return error_response(503, "unavailable", message)
        return json_response({"status": "ok"})

    return health
