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

Use from a service's ``__main__.py``::

    from targets.common.serve import serve
    from targets.monolith.app import create_app
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD"))
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import wait
from typing import NoReturn

import uvloop
from aiohttp import web

from targets.common.config import ServiceConfig, ServiceConfigError, load_service_config

log = logging.getLogger("targets.serve")

STOP_GRACE_S = 15.0  # seconds children get to exit after a stop before SIGKILL

AppFactory = Callable[[ServiceConfig], web.Application]


def _run_worker(create_app: AppFactory, config: ServiceConfig) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    app = create_app(config)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        reuse_port=True,
        access_log=None,
        print=None,
        shutdown_timeout=5.0,
        loop=uvloop.new_event_loop(),
    )


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
    log.info(
        "serving %s on %s:%d with %d worker(s)",
        config.service_name,
        config.host,
        config.port,
        config.workers,
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
