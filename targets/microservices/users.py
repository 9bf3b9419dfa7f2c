"""Users service: sign-up, login (issues the token), admin user ensured at start.

Run with ``python -m targets.microservices.users``; configured by
``DATABASE_URL`` (its own ``users`` database), ``TOKEN_SECRET``,
``ADMIN_USERNAME``/``ADMIN_PASSWORD``, ``INTERNAL_SECRET`` and the common
variables (``targets.common.config``).

Internal endpoint (header ``X-Internal-Secret``): ``GET /internal/stats`` ->
``{"users": n}``.
"""

from __future__ import annotations

from functools import partial

import asyncpg
from aiohttp import web

from targets.common.accounts import USERS_DDL, account_routes
from targets.common.config import ServiceConfig
from targets.common.db import check_pool, ensure_admin, pool_context
from targets.common.http import health_handler, json_response, new_application
from targets.common.serve import serve
from targets.microservices.upstream import require_internal

CONFIG = web.AppKey("config", ServiceConfig)
DB = web.AppKey("db", asyncpg.Pool)

SCHEMA = USERS_DDL


async def internal_stats(request: web.Request) -> web.Response:
    require_internal(request, request.app[CONFIG].internal_secret)
    count = await request.app[DB].fetchval("SELECT count(*) FROM users")
    return json_response({"users": int(count)})


async def database(app: web.Application) -> None:
    await check_pool(app[DB])


def create_app(config: ServiceConfig) -> web.Application:
    """The users service application."""
    app = new_application(config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app[CONFIG] = config
    admin = partial(ensure_admin, username=config.admin_username, password=config.admin_password)
    app.cleanup_ctx.append(
        pool_context(DB, config.database_url, config.db_pool_size, schema=SCHEMA, on_ready=admin)
    )
    app.add_routes(
        [
            web.get("/health", health_handler(database)),
            *account_routes(DB, CONFIG),
            web.get("/internal/stats", internal_stats),
        ]
    )
    return app


def main() -> None:
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD", "INTERNAL_SECRET"))


if __name__ == "__main__":
    main()
