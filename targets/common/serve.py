"""Run a target service: uvloop, ``WORKERS`` processes sharing one port (SO_REUSEPORT).

Public API (stable):

- ``serve(create_app, *, require=()) -> NoReturn``: load the configuration
  (``load_service_config(require=require)``; a bad variable prints its name and
  exits 2), then run ``create_app(config)`` on ``config.host:config.port``.
  With ``WORKERS=1`` the app runs in this process. Otherwise the parent forks
  WORKERS children, each running its own app on the same port with
  ``reuse_port=True``; the parent forwards SIGTERM/SIGINT to them, and when one
  child dies unexpectedly it stops the others; it exits once all have exited
  (status 0 after a requested stop, else the first failing child's status).
- ``async start_server(app, host, port, *, head_timeout_s, keepalive_timeout_s=75)
  -> RunningServer``: start ``app`` (its startup and ``cleanup_ctx``) and listen on
  ``host:port`` (``reuse_port``; port 0 picks one: ``RunningServer.port``), every
  connection served by ``targets.common.protocol.GuardedRequestHandler``;
  ``await running.close()`` stops listening, lets requests in progress finish (at
  most ``SHUTDOWN_TIMEOUT_S``) and runs the app's cleanup.
- ``raise_open_files_limit(wanted=OPEN_FILES_WANTED) -> int``: raise the soft
  ``RLIMIT_NOFILE`` towards ``wanted`` (hard limit permitting); the soft limit now.

Before serving, the process raises its soft open-files limit to the hard limit (at
most ``OPEN_FILES_WANTED``): every connection is a file descriptor, and a typical
soft limit of 1024 would refuse connections long before the CPU is the limit.

Connection limits on every service: a request head must be complete
``HEADER_TIMEOUT_S`` seconds [10] after its first byte, a body ``BODY_TIMEOUT_S``
[10] after its head (408, then ``LINGERING_TIME_S`` [2] to drain it before the
connection closes; ``targets.common.http``), and an idle keep-alive
connection is closed after ``KEEPALIVE_TIMEOUT_S`` (75 s, aiohttp's ``run_app``
default, above the 30 s after which the services' own HTTP clients drop idle
connections).

Use from a service's ``__main__.py``::

    from targets.common.serve import serve
    from targets.monolith.app import create_app
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD"))
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import NoReturn

import uvloop
from aiohttp import web

from targets.common.config import ServiceConfig, ServiceConfigError, load_service_config
from targets.common.protocol import GuardedRequestHandler

log = logging.getLogger("targets.serve")

STOP_GRACE_S = 15.0  # seconds children get to exit after a stop before SIGKILL
SHUTDOWN_TIMEOUT_S = 5.0  # seconds requests in progress get to finish on a stop
KEEPALIVE_TIMEOUT_S = 75.0  # seconds an idle keep-alive connection stays open
# Seconds an unread request body is drained after the answer (a 413, a 408) before the
# connection closes, so the client reads the answer rather than a reset; aiohttp's 10 s
# would let a client trickling a body hold the connection that much longer.
LINGERING_TIME_S = 2.0
BACKLOG = 128  # pending connections per listening socket (aiohttp's default)
OPEN_FILES_WANTED = 65536  # soft RLIMIT_NOFILE a service raises itself to (hard limit permitting)

AppFactory = Callable[[ServiceConfig], web.Application]


@dataclass
class RunningServer:
    """A started app and its listening socket (see ``start_server``)."""

    runner: web.AppRunner
    listener: asyncio.AbstractServer
    port: int

    async def close(self) -> None:
        """Stop listening, finish requests in progress, run the app's cleanup."""
        self.listener.close()
        await self.runner.cleanup()


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    head_timeout_s: float,
    keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
) -> RunningServer:
    """Start ``app`` on ``host:port`` with the head deadline (module doc)."""
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()  # the app's startup and cleanup_ctx (pools, schema, ...)
    try:
        manager = runner.server
        assert manager is not None

        def protocol() -> GuardedRequestHandler:
            return GuardedRequestHandler(
                manager,
                loop=loop,
                head_timeout_s=head_timeout_s,
                keepalive_timeout=keepalive_timeout_s,
                lingering_time=LINGERING_TIME_S,
                access_log=None,
            )

        listener = await loop.create_server(protocol, host, port, reuse_port=True, backlog=BACKLOG)
    except BaseException:
        await runner.cleanup()
        raise
    bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
    return RunningServer(runner, listener, int(bound))


async def _serve_until_stopped(app: web.Application, config: ServiceConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    starting = asyncio.ensure_future(
        start_server(app, config.host, config.port, head_timeout_s=config.header_timeout_s)
    )

    def on_signal() -> None:
        stop.set()
        starting.cancel()  # a stop during start-up (e.g. waiting for the database) is immediate

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        running = await starting
    except asyncio.CancelledError:
        if stop.is_set():
            return
        raise
    try:
        await stop.wait()
    finally:
        await running.close()


def _run_worker(create_app: AppFactory, config: ServiceConfig) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    app = create_app(config)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve_until_stopped(app, config))
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _supervise(processes: Sequence[multiprocessing.process.BaseProcess]) -> int:
    stopping = False
    exit_code = 0

    def stop(signum: int) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %d; stopping %d workers", signum, len(processes))
        stop(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_deadline: float | None = None
    while True:
        alive = [p for p in processes if p.is_alive()]
        if not alive:
            break
        if stopping and stop_deadline is None:
            stop_deadline = time.monotonic() + STOP_GRACE_S
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            for process in alive:
                process.kill()
        wait([p.sentinel for p in alive], timeout=0.5)
        for process in processes:
            if process.exitcode is not None and process.exitcode != 0 and not stopping:
                log.error(
                    "worker %s exited with %s; stopping the others", process.pid, process.exitcode
                )
                exit_code = process.exitcode if process.exitcode > 0 else 1
                stop(signal.SIGTERM)
            elif process.exitcode is not None and not stopping:
                log.error("worker %s exited unexpectedly; stopping the others", process.pid)
                exit_code = 1
                stop(signal.SIGTERM)
    for process in processes:
        process.join()
    return exit_code


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards ``wanted`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def serve(create_app: AppFactory, *, require: Iterable[str] = ()) -> NoReturn:
    """Run the service configured by the environment until it is told to stop."""
    try:
        config = load_service_config(require=require)
    except ServiceConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {config.service_name}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    open_files = raise_open_files_limit()
    log.info(
        "serving %s on %s:%d with %d worker(s), up to %d open files each",
        config.service_name,
        config.host,
        config.port,
        config.workers,
        open_files,
    )
    if config.workers == 1:
        _run_worker(create_app, config)
        sys.exit(0)
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_run_worker, args=(create_app, config), name=f"worker-{i}")
        for i in range(config.workers)
    ]
    for process in processes:
        process.start()
    sys.exit(_supervise(processes))
