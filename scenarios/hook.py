"""Record EVERY request Locust makes, raw, to a per-process file in the run directory.

One tab-separated line per request, columns in the order of
``harness.results.SAMPLE_COLUMNS``::

    start_s  latency_ms  name  status  ok  bytes  error  order_id  user  intended_s

``intended_s`` is empty in closed-model runs; in open-model runs it is the time the
schedule meant the request to start (latency from it is corrected for coordinated
omission). Open-model arrivals that could not be sent are written to
``dropped-<pid>.tsv`` (``intended_s  name``).

Cheap by design: the ``events.request`` listener appends one formatted line to a list;
a greenlet writes the list out once a second (so the harness can tail the files for live
progress) and at test stop / process exit. Files are opened lazily in the process that
records (``samples-<pid>.tsv``), so ``--processes`` workers forked after import each get
their own file. The harness merges them into ``samples.parquet``.

``die_with_master`` gives each ``--processes`` worker the parent-death signal the
harness gave the master (``harness.orphans``): a fork does not inherit it, so without
it a SIGKILLed harness would leave the workers loading a dead port.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import sys
import weakref
from typing import Any

import gevent

FLUSH_INTERVAL_S = 1.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_IMPORTING_PID = os.getpid()  # the Locust master: --processes forks its workers after import


def die_with_master(master_pid: int = _IMPORTING_PID) -> bool:
    """In a process forked from ``master_pid``: be SIGKILLed when it dies. True if set.

    A no-op (False) in the master itself and off Linux. Exits at once if the master
    already died before ``prctl`` took effect. Call it from ``events.init``.
    """
    if os.getpid() == master_pid or not sys.platform.startswith("linux"):
        return False
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != master_pid:
        os._exit(1)
    return True


def classify_failure(status: int, exception: BaseException | None) -> str:
    """The failure class of one request: "" (success), "4xx", "5xx", "timeout", "connection", "other"."""
    if exception is None:
        return ""
    if 400 <= status < 500:
        return "4xx"
    if status >= 500:
        return "5xx"
    if isinstance(exception, (TimeoutError, socket.timeout, gevent.Timeout)):
        return "timeout"
    text = str(exception).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if isinstance(exception, (ConnectionError, OSError)):
        return "connection"
    return "other"


class SampleRecorder:
    """Buffers request samples and writes them to ``<directory>/samples-<pid>.tsv``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._pid = 0
        self._buffer: list[str] = []
        self._handle: Any = None
        self._names: dict[tuple[str, str], str] = {}
        self._dropped: list[str] = []
        self._dropped_handle: Any = None
        # A forked --processes worker starts afresh (own file, empty buffers) on its first
        # sample; the fork hook makes that check one attribute test, not a getpid() per request.
        if hasattr(os, "register_at_fork"):
            recorder = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_parent(recorder()))

    def _open(self) -> None:
        self._pid = os.getpid()
        self._buffer = []
        self._dropped = []
        path = os.path.join(self.directory, f"samples-{self._pid}.tsv")
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at exit
        dropped = os.path.join(self.directory, f"dropped-{self._pid}.tsv")
        self._dropped_handle = open(dropped, "a", encoding="utf-8")  # noqa: SIM115 - closed at exit
        gevent.spawn(self._flush_forever)
        atexit.register(self.flush)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        """The ``events.request`` listener: one line per request, no I/O.

        On the generator's hot path (one call per request): one dict lookup for the
        label, one %-format for the line; the flush greenlet joins and writes.
        """
        if self._handle is None:
            self._open()
        try:
            label = self._names[request_type, name]
        except KeyError:
            label = self._names[request_type, name] = f"{request_type} {name}"
        status = getattr(response, "status_code", 0) or 0
        order_id = user = intended = ""
        if context:
            if "order_id" in context:
                order_id = context["order_id"]
                user = context.get("user", "")
            if "intended_s" in context:  # open model: when the schedule meant to send it
                intended = "%.6f" % context["intended_s"]  # noqa: UP031 - the hot path's cheapest format
        if exception is None:
            self._buffer.append("%.6f\t%.3f\t%s\t%s\t1\t%s\t\t%s\t%s\t%s\n" % (  # noqa: UP031
                start_time or 0.0, response_time, label, status, response_length or 0, order_id, user,
                intended))
        else:
            self._buffer.append("%.6f\t%.3f\t%s\t%s\t0\t%s\t%s\t%s\t%s\t%s\n" % (  # noqa: UP031
                start_time or 0.0, response_time, label, status, response_length or 0,
                classify_failure(status, exception), order_id, user, intended))

    def on_dropped(self, name: str, intended_s: float) -> None:
        """An open-model arrival never sent: every in-flight slot was busy (k6's dropped_iterations)."""
        if self._handle is None:
            self._open()
        self._dropped.append(f"{intended_s:.6f}\t{name}\n")

    def flush(self) -> None:
        """Write buffered lines to this process's file (no-op when empty)."""
        if self._handle is None:
            return
        if self._dropped:
            dropped, self._dropped = self._dropped, []
            self._dropped_handle.write("".join(dropped))
            self._dropped_handle.flush()
        if not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        self._handle.write("".join(lines))
        self._handle.flush()

    def _flush_forever(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.flush()


def _forget_parent(recorder: SampleRecorder | None) -> None:
    """In a forked child: drop the parent's file handles and buffered lines (they are the parent's)."""
    if recorder is not None:
        recorder._handle = recorder._dropped_handle = None
        recorder._buffer, recorder._dropped, recorder._pid = [], [], 0


def install(events: Any, directory: str) -> SampleRecorder:
    """Register a recorder on Locust's ``events`` that writes to ``directory``."""
    os.makedirs(directory, exist_ok=True)
    recorder = SampleRecorder(directory)
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(lambda **_: recorder.flush())
    events.quitting.add_listener(lambda **_: recorder.flush())
    return recorder
