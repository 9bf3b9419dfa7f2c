"""JSON requests from tests, through the contract checks' own client (``harness.contract._client``).

Tests that must send raw or malformed bytes use the aiohttp session (or
``Api.raw_call``) directly; everything else goes through ``call``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp

from harness.contract._client import MISSING, Api


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``(status, parsed JSON body or None)`` of one request to ``url`` (http://127.0.0.1 only).

    ``body`` None sends no body; ``token`` becomes a Bearer ``Authorization`` header.
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    json = MISSING if body is None else body
    api = Api(session, base)
    reply = await api.call(method, url[len(base) :], json=json, token=token, headers=headers)
    return reply.status, reply.body
