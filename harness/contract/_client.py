"""HTTP client plumbing of the contract checks (see ``harness.contract``).

``Context`` is what every check receives: an ``Api`` bound to the target (pooled
aiohttp requests, and ``raw_call`` for requests written byte for byte, e.g. with
header bytes that are not UTF-8, which aiohttp's client would re-encode), the
admin token, two ordinary users and helpers that create products and place
orders. ``place_order`` hides whether the target answers orders synchronously
(201 confirmed / 409 insufficient_stock) or asynchronously (202 pending, then a
final status read back with ``GET /orders/{id}``), and fails when one target
mixes the two.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson

LOOPBACK_HOSTS = frozenset({"127.0.0.1"})
REQUEST_TIMEOUT_S = 30.0  # seconds, one request
FINAL_TIMEOUT_S = 30.0  # seconds an asynchronous order may stay pending
POLL_INTERVAL_S = 0.05  # seconds between reads of a pending order (doubles up to 0.5)
MISSING = object()  # a body field left out
BIG_ID = 4_611_686_018_427_387_904  # 2**62: a valid bigint no target will have reached


class CheckFailed(Exception):
    """A contract check found the target doing something the contract forbids."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, with the request it answers (for failure messages)."""

    method: str
    path: str
    status: int
    content_type: str
    text: str
    body: Any  # parsed JSON, or None when the body is not JSON

    def describe(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.text[:300]!r}"


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; ValueError unless it is http://127.0.0.1:PORT."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"contract checks only talk to http://127.0.0.1, not {base_url!r}")
    return base_url.rstrip("/")


class Api:
    """Requests to one target; bodies are JSON-encoded with orjson unless ``raw`` is given."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = check_base_url(base_url)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = MISSING,
        raw: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        request_headers = dict(headers or {})
        if token is not None:
            request_headers["Authorization"] = f"Bearer {token}"
        data: bytes | None = raw
        if json is not MISSING:
            data = orjson.dumps(json)
        if data is not None:
            request_headers.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base_url + path, data=data, headers=request_headers
        ) as response:
            text = await response.text(errors="replace")
            try:
                body = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                body = None
            return Reply(method, path, response.status, response.content_type, text, body)

    async def raw_call(
        self,
        method: str,
        path: str,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> Reply:
        """One request on a connection of its own, its header bytes sent exactly as given.

        ``Host``, ``Connection: close`` and ``Content-Length`` are added; the answer is
        read until the target closes the connection (``REQUEST_TIMEOUT_S`` at most).
        """
        parts = urlsplit(self.base_url)
        head = [
            f"{method} {path} HTTP/1.1".encode(),
            f"Host: {parts.netloc}".encode(),
            b"Connection: close",
            f"Content-Length: {len(body)}".encode(),
            *(name + b": " + value for name, value in headers),
        ]
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            await writer.drain()
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                raw = await reader.read()
        finally:
            writer.close()
        return parse_raw_response(method, path, raw)


def parse_raw_response(method: str, path: str, raw: bytes) -> Reply:
    """The ``Reply`` in a whole HTTP/1.1 response (``Content-Length``, chunked or to EOF)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if not sep or len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise CheckFailed(f"{method} {path}: not an HTTP response: {raw[:200]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise CheckFailed(f"{method} {path}: bad status line {lines[0]!r}") from None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        payload = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            payload, rest = payload + rest[:size], rest[size + 2 :]
    elif "content-length" in fields:
        payload = rest[: int(fields["content-length"])]
    else:
        payload = rest
    text = payload.decode("utf-8", "replace")
    try:
        body = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        body = None
    content_type = fields.get("content-type", "").split(";")[0].strip().lower()
    return Reply(method, path, status, content_type, text, body)


def expect(reply: Reply, status: int, code: str | None = None) -> Any:
    """The reply's JSON body if it has ``status`` (and error ``code``), else ``CheckFailed``.

    Error replies (status >= 400) must have the contract's ``{"error","message"}``
    shape with a JSON content type.
    """
    if reply.status != status:
        wanted = f"{status} {code}" if code else str(status)
        raise CheckFailed(f"expected {wanted}: {reply.describe()}")
    if reply.content_type != "application/json":
        raise CheckFailed(f"content type {reply.content_type!r} is not JSON: {reply.describe()}")
    if status >= 400:
        expect_error_shape(reply)
        if code is not None and reply.body["error"] != code:
            raise CheckFailed(f"expected error code {code!r}: {reply.describe()}")
    return reply.body


def expect_error_shape(reply: Reply) -> None:
    """``CheckFailed`` unless the body is exactly ``{"error": str, "message": str}``."""
    body = reply.body
    if (
        not isinstance(body, dict)
        or set(body) != {"error", "message"}
        or not isinstance(body["error"], str)
        or not isinstance(body["message"], str)
    ):
        raise CheckFailed(f"error body is not {{error, message}}: {reply.describe()}")


def expect_true(condition: bool, message: str) -> None:
    """``CheckFailed(message)`` unless ``condition``."""
    if not condition:
        raise CheckFailed(message)


def is_int(value: Any) -> bool:
    """True for a JSON integer (bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class User:
    """An ordinary user created for this run."""

    username: str
    password: str
    id: int
    token: str


@dataclass(frozen=True)
class OrderOutcome:
    """Where an order ended up: ``confirmed``, ``rejected`` (insufficient stock) or ``error``."""

    result: Literal["confirmed", "rejected", "error"]
    reply: Reply  # the answer to POST /orders
    order_id: str | None
    final: dict[str, Any] | None  # the order as GET /orders/{id} last returned it
    pending_s: float = 0.0  # seconds until an asynchronous order reached its final status


@dataclass
class Context:
    """What every check receives."""

    api: Api
    admin_token: str
    users: list[User]
    tag: str  # unique per run: keeps usernames and product names apart between runs
    token_secret: str | None
    mode: Literal["sync", "async"] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def user(self) -> User:
        return self.users[0]

    @property
    def other(self) -> User:
        return self.users[1]

    def unique(self, prefix: str) -> str:
        """A name unique to this run and call, e.g. ``ct_ab12cd_widget_3f9a``."""
        return f"ct_{self.tag}_{prefix}_{secrets.token_hex(3)}"

    async def new_product(self, *, stock: int, price_cents: int = 250, name: str = "") -> dict:
        """Create a product as admin; its JSON."""
        reply = await self.api.call(
            "POST",
            "/products",
            json={
                "name": name or self.unique("product"),
                "price_cents": price_cents,
                "stock": stock,
            },
            token=self.admin_token,
        )
        return expect(reply, 201)

    async def product(self, product_id: int) -> dict:
        """``GET /products/{id}`` (200 expected)."""
        return expect(await self.api.call("GET", f"/products/{product_id}"), 200)

    async def stats(self) -> dict:
        """``GET /stats`` as admin."""
        return expect(await self.api.call("GET", "/stats", token=self.admin_token), 200)

    def _note_mode(self, mode: Literal["sync", "async"], reply: Reply) -> None:
        if self.mode is None:
            self.mode = mode
        elif self.mode != mode:
            raise CheckFailed(f"target answered orders both 201 and 202: {reply.describe()}")

    async def place_order(self, token: str, body: Any) -> OrderOutcome:
        """POST an order and, when accepted asynchronously, wait for its final status."""
        reply = await self.api.call("POST", "/orders", json=body, token=token)
        if reply.status == 201:
            self._note_mode("sync", reply)
            order = expect(reply, 201)
            expect_true(
                isinstance(order, dict) and order.get("status") == "confirmed",
                f"201 order is not confirmed: {reply.describe()}",
            )
            return OrderOutcome("confirmed", reply, str(order.get("id")), order)
        if reply.status == 202:
            self._note_mode("async", reply)
            order = expect(reply, 202)
            expect_true(
                isinstance(order, dict)
                and isinstance(order.get("id"), str)
                and order.get("status") == "pending",
                f"202 answer is not {{id, status: pending}}: {reply.describe()}",
            )
            started = time.monotonic()
            final = await self.wait_final(order["id"], token)
            result: Literal["confirmed", "rejected"] = (
                "confirmed" if final["status"] == "confirmed" else "rejected"
            )
            return OrderOutcome(result, reply, order["id"], final, time.monotonic() - started)
        if reply.status == 409 and isinstance(reply.body, dict):
            expect(reply, 409, "insufficient_stock")
            return OrderOutcome("rejected", reply, None, None)
        return OrderOutcome("error", reply, None, None)

    async def wait_final(self, order_id: str, token: str) -> dict[str, Any]:
        """Poll ``GET /orders/{id}`` until the status is final (``FINAL_TIMEOUT_S`` bound)."""
        deadline = time.monotonic() + FINAL_TIMEOUT_S
        interval = POLL_INTERVAL_S
        last: Reply | None = None
        while time.monotonic() < deadline:
            last = await self.api.call("GET", f"/orders/{order_id}", token=token)
            if last.status == 200:
                order = expect(last, 200)
                status = order.get("status") if isinstance(order, dict) else None
                expect_true(
                    status in ("pending", "confirmed", "rejected"),
                    f"order status {status!r} is not pending/confirmed/rejected",
                )
                if status != "pending":
                    return order
            elif last.status != 404:  # 404: not yet visible (tolerated, bounded)
                raise CheckFailed(f"reading a pending order failed: {last.describe()}")
            await asyncio.sleep(interval)
            interval = min(interval * 2, 0.5)
        detail = last.describe() if last else "no answer"
        raise CheckFailed(f"order {order_id} not final after {FINAL_TIMEOUT_S:.0f} s: {detail}")

    async def eventually(self, probe: Any, *, timeout_s: float = 10.0) -> Any:
        """Await ``probe()`` until it returns without ``CheckFailed`` (async targets only wait)."""
        deadline = time.monotonic() + (timeout_s if self.mode == "async" else 0.0)
        while True:
            try:
                return await probe()
            except CheckFailed:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.2)
