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
        """The ``events.request`` listener: one line per request, no I/O."""
        if self._pid != os.getpid():
            self._open()
        key = (request_type, name)
        label = self._names.get(key)
        if label is None:
            label = self._names[key] = f"{request_type} {name}"
        status = getattr(response, "status_code", 0) or 0
        error = classify_failure(status, exception) if exception is not None else ""
        order_id = user = intended = ""
        if context:
            if "order_id" in context:
                order_id = context["order_id"]
                user = context.get("user", "")
            if "intended_s" in context:  # open model: when the schedule meant to send it
                intended = f"{context['intended_s']:.6f}"
        self._buffer.append(
            f"{start_time or 0.0:.6f}\t{response_time:.3f}\t{label}\t{status}\t"
            f"{1 if exception is None else 0}\t{response_length or 0}\t{error}\t{order_id}\t{user}\t"
            f"{intended}\n"
        )

    def on_dropped(self, name: str, intended_s: float) -> None:
        """An open-model arrival never sent: every in-flight slot was busy (k6's dropped_iterations)."""
        if self._pid != os.getpid():
            self._open()
        self._dropped.append(f"{intended_s:.6f}\t{name}\n")

    def flush(self) -> None:
        """Write buffered lines to this process's file (no-op when empty)."""
        if self._handle is None or self._pid != os.getpid():
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


def install(events: Any, directory: str) -> SampleRecorder:
    """Register a recorder on Locust's ``events`` that writes to ``directory``."""
    os.makedirs(directory, exist_ok=True)
    recorder = SampleRecorder(directory)
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(lambda **_: recorder.flush())
    events.quitting.add_listener(lambda **_: recorder.flush())
    return recorder
