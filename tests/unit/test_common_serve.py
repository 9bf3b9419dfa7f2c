"""How the targets serve HTTP (targets.common.serve/protocol): slow clients cannot hold connections.

A real listening socket on 127.0.0.1 (``start_server``, the code every service
runs), raw clients: a request head trickled a byte at a time (slowloris) is cut
off after the head deadline, a body after the body deadline (408), while idle
keep-alive connections and slow handlers are left alone. A client hanging up
mid-body is logged as a disconnect, not as a lost dependency.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from targets.common.http import json_response, new_application, read_json_object
from targets.common.serve import RunningServer, raise_open_files_limit, start_server

HEAD_TIMEOUT_S = 0.5
BODY_TIMEOUT_S = 0.5


def _app() -> web.Application:
    app = new_application(4096, body_timeout_s=BODY_TIMEOUT_S)

    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json_object(request))

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(HEAD_TIMEOUT_S * 3)  # longer than the head deadline
        return json_response({"slow": True})

    async def hello(request: web.Request) -> web.Response:
        return json_response({"hello": True})

    app.add_routes([web.post("/echo", echo), web.get("/slow", slow), web.get("/hello", hello)])
    return app


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    running = await start_server(_app(), "127.0.0.1", 0, head_timeout_s=HEAD_TIMEOUT_S)
    yield running
    await running.close()


async def _connect(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


async def _closed_after(reader: asyncio.StreamReader, limit_s: float) -> float:
    """Seconds until the server closed the connection (fails past ``limit_s``)."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), limit_s)
    assert data == b"", f"the server answered instead of closing: {data[:200]!r}"
    return time.monotonic() - started


async def test_a_trickled_request_head_is_cut_off_at_the_head_deadline(
    server: RunningServer,
) -> None:
    reader, writer = await _connect(server)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)  # a byte every 50 ms: never idle, never done

    sender = asyncio.ensure_future(trickle())
    try:
        await _closed_after(reader, HEAD_TIMEOUT_S + 3)
    finally:
        sender.cancel()
    elapsed = time.monotonic() - started
    assert HEAD_TIMEOUT_S * 0.8 <= elapsed < HEAD_TIMEOUT_S + 2, elapsed
    writer.close()


async def test_a_partial_head_then_silence_is_cut_off(server: RunningServer) -> None:
    reader, writer = await _connect(server)
    writer.write(b"GET /hello HTTP/1.1\r\nHo")
    await writer.drain()
    assert await _closed_after(reader, HEAD_TIMEOUT_S + 3) < HEAD_TIMEOUT_S + 2
    writer.close()


async def test_idle_keep_alive_connections_and_slow_handlers_are_left_alone(
    server: RunningServer,
) -> None:
    reader, writer = await _connect(server)
    writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = await _response(reader)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"hello":true}'
    await asyncio.sleep(HEAD_TIMEOUT_S * 3)  # idle between requests: keep-alive, not a head
    writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")  # a handler slower than the deadline
    head, body = await _response(reader)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"slow":true}'
    writer.write(b"GET /hel")  # and the next head, sent in two parts in time, works
    await asyncio.sleep(HEAD_TIMEOUT_S / 3)
    writer.write(b"lo HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _ = await _response(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_body_not_sent_in_time_is_408_and_the_connection_is_closed(
    server: RunningServer,
) -> None:
    reader, writer = await _connect(server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
    await writer.drain()
    head, body = await _response(reader)
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"connection: close" in head.lower()
    assert body.startswith(b'{"error":"timeout"')
    writer.close()
    reader, writer = await _connect(server)  # a body sent in time is read as before
    writer.write(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{"a": 1}')
    head, body = await _response(reader)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"a":1}'
    writer.close()


async def test_a_client_hanging_up_mid_body_is_logged_as_a_disconnect(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="targets.http")
    reader, writer = await _connect(server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.transport.abort()  # the client goes away with its body unsent
    for _ in range(100):
        if "client disconnected" in caplog.text:
            break
        await asyncio.sleep(0.02)
    assert "client disconnected during POST /echo" in caplog.text
    assert "dependency unavailable" not in caplog.text


def test_the_open_files_limit_is_raised_within_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        now = raise_open_files_limit(soft + 1 if hard == resource.RLIM_INFINITY else hard)
        new_soft, new_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert new_hard == hard and now == new_soft >= soft
        assert raise_open_files_limit(1) == new_soft  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
