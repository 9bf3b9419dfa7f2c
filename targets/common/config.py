"""Service configuration, parsed once from environment variables at start.

Public API (stable):

- ``ServiceConfig``: frozen dataclass with every setting a service may use.
- ``load_service_config(environ=None, *, require=()) -> ServiceConfig``: parse and
  validate; ``require`` names extra variables that must be non-empty for this
  service (e.g. ``("DATABASE_URL", "ADMIN_PASSWORD")``).
- ``ServiceConfigError(ValueError)``: raised with a message naming the variable.

Variables (defaults in brackets): HOST [127.0.0.1], PORT (required), WORKERS [1],
TOKEN_SECRET (required), INTERNAL_SECRET [""], ADMIN_USERNAME [admin],
ADMIN_PASSWORD [""], SERVICE_NAME [service], DATABASE_URL [""], NATS_URL [""],
CATALOG_URL [""], USERS_URL [""], ORDERS_URL [""], DB_POOL_SIZE [10],
TOKEN_TTL_S [3600, seconds], MAX_BODY_BYTES [65536, bytes],
HEADER_TIMEOUT_S [10, seconds a client has to send a request's head once it began],
BODY_TIMEOUT_S [10, seconds a client has to send a request's body once its head arrived].

``ADMIN_USERNAME`` is normalised like every username (``targets.common.usernames``:
trimmed, ASCII lowercased) and must follow the sign-up rules, else it could never log in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from targets.common.usernames import is_valid_username, normalize_username

ALWAYS_REQUIRED = ("PORT", "TOKEN_SECRET")


class ServiceConfigError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything a target service is configured by (env vars only)."""

    host: str
    port: int
    workers: int
    token_secret: str
    internal_secret: str
    admin_username: str
    admin_password: str
    service_name: str
    database_url: str
    nats_url: str
    catalog_url: str
    users_url: str
    orders_url: str
    db_pool_size: int  # connections per worker process
    token_ttl_s: int  # seconds a token stays valid
    max_body_bytes: int  # largest accepted request body, bytes
    header_timeout_s: int = 10  # seconds to receive a request head once its first byte came
    body_timeout_s: int = 10  # seconds to receive a request body once its head came


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServiceConfigError(f"{name}={raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ServiceConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def load_service_config(
    environ: Mapping[str, str] | None = None, *, require: Iterable[str] = ()
) -> ServiceConfig:
    """Parse the service configuration from ``environ`` (default ``os.environ``).

    Raises ``ServiceConfigError`` naming the first missing or invalid variable.
    """
    env = os.environ if environ is None else environ
    for name in (*ALWAYS_REQUIRED, *require):
        if not env.get(name, "").strip():
            raise ServiceConfigError(f"environment variable {name} is required but not set")

    def text(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    admin_username = normalize_username(text("ADMIN_USERNAME", "admin"))
    if not is_valid_username(admin_username):
        raise ServiceConfigError(
            f"ADMIN_USERNAME={admin_username!r} breaks the username rules "
            "(3 to 64 of A-Z a-z 0-9 _ . -)"
        )

    return ServiceConfig(
        host=text("HOST", "127.0.0.1"),
        port=_int(env, "PORT", 0, 1, 65535),
        workers=_int(env, "WORKERS", 1, 1, 256),
        token_secret=text("TOKEN_SECRET"),
        internal_secret=text("INTERNAL_SECRET"),
        admin_username=admin_username,
        admin_password=env.get("ADMIN_PASSWORD", ""),
        service_name=text("SERVICE_NAME", "service"),
        database_url=text("DATABASE_URL"),
        nats_url=text("NATS_URL"),
        catalog_url=text("CATALOG_URL").rstrip("/"),
        users_url=text("USERS_URL").rstrip("/"),
        orders_url=text("ORDERS_URL").rstrip("/"),
        db_pool_size=_int(env, "DB_POOL_SIZE", 10, 1, 1000),
        token_ttl_s=_int(env, "TOKEN_TTL_S", 3600, 1, 30 * 24 * 3600),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 65536, 1024, 64 * 1024 * 1024),
        header_timeout_s=_int(env, "HEADER_TIMEOUT_S", 10, 1, 3600),
        body_timeout_s=_int(env, "BODY_TIMEOUT_S", 10, 1, 3600),
    )
