"""Health checks every backend uses: HTTP 200, PostgreSQL accepting connections, polling.

All of them talk only to 127.0.0.1 and never through a proxy from the environment.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness.backends.base import LOOPBACK

DB_USER = "bench"  # the superuser of every PostgreSQL the backends create
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


async def _create_databases(port: int, password: str, databases: tuple[str, ...]) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=LOOPBACK, port=port, user=DB_USER, password=password, database="postgres", timeout=5
    )
    try:
        existing = {row[0] for row in await connection.fetch("SELECT datname FROM pg_database")}
        for name in databases:
            if name not in existing:
                quoted = '"' + name.replace('"', '""') + '"'
                await connection.execute(f"CREATE DATABASE {quoted}")
    finally:
        await connection.close()


def postgres_ready(port: int, password: str, databases: tuple[str, ...]) -> bool:
    """Connect (the health check) and create ``databases``; False while the server is not up."""
    try:
        asyncio.run(_create_databases(port, password, databases))
    except (OSError, TimeoutError):
        return False
    except Exception as error:  # asyncpg: "the database system is starting up" and friends
        if type(error).__name__ in ("CannotConnectNowError", "ConnectionDoesNotExistError"):
            return False
        raise
    return True


# -- health --------------------------------------------------------------------------------


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET ``url`` answers 200 within ``timeout`` seconds (never via a proxy)."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(
    check: Callable[[], bool], deadline: float, alive: Callable[[], bool], interval: float = 0.1
) -> str:
    """Poll ``check()`` until true; "" on success, "exited" / "timeout" otherwise."""
    while True:
        if check():
            return ""
        if not alive():
            return "exited"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(interval)


def listening(pids: list[int], port: int) -> bool:
    """Whether one of ``pids`` has a TCP socket listening on ``port`` (of 127.0.0.1 or any)."""
    import psutil

    for pid in pids:
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr and s.laddr.port == port for s in sockets):
            return True
    return False


def in_thread(function: Callable[[], bool]) -> bool:
    """Run ``function`` in a worker thread: it may call asyncio.run while the caller's loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()
