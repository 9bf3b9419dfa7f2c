"""Locust master/worker mode: every worker's raw samples reach the master, clocks aligned.

Workers on other hosts cannot write into the harness's sample directory, so their
recorder **streams**: once a second (the hook's flush, never per request) it sends the
lines it buffered to the master as one custom message (``archbench_samples``); the master
writes them to ``samples-w<index>-<pid>.tsv`` beside the files a local run writes. Streaming
rather than collecting each worker's files when the step ends because (1) a remote
worker's files are on a disk the harness cannot read, and Locust's ZeroMQ channel is the
only connection the two share; (2) live progress keeps working (the harness tails the same
files); (3) a worker that dies loses at most one second of samples, and the step is
invalid then anyway. Locust's own (rounded) statistics are never used.

Clocks: at start each worker process times ``CLOCK_ROUNDS`` round trips to the master
(``archbench_clock``) and keeps the one with the shortest round trip (NTP's rule): the
master's clock minus the worker's at the midpoint is the offset, within half that round
trip. The master adds it to every start and intended time the worker sends, so all samples
are on the master's clock; the offset and round trip are reported per worker.

The master writes ``workers.json`` (every second and at stop): per worker process its
Locust index, host, pid, clock offset, requests, CPU (from the worker's own reports) and
whether Locust's heartbeat declared it missing. ``harness.distributed`` reads it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import gevent
import gevent.queue

from scenarios.hook import SampleRecorder

CLOCK_ROUNDS = 8
REPORT_INTERVAL_S = 1.0
WORKERS_FILE = "workers.json"
_SAMPLES, _DROPPED, _CLOCK, _HELLO, _CPU, _SCHEDULE = (
    "archbench_samples", "archbench_dropped", "archbench_clock", "archbench_hello", "archbench_cpu",
    "archbench_schedule")


def shift_lines(text: str, offset_s: float, columns: tuple[int, ...]) -> str:
    """``text`` (tab-separated lines) with ``offset_s`` added to the float fields at ``columns``.

    Empty fields stay empty (a closed-model sample has no intended time). Pure.
    """
    if not offset_s or not text:
        return text
    out = []
    for line in text.splitlines():
        fields = line.split("\t")
        for column in columns:
            if column < len(fields) and fields[column]:
                fields[column] = "%.6f" % (float(fields[column]) + offset_s)  # noqa: UP031
        out.append("\t".join(fields))
    return "\n".join(out) + "\n"


def best_offset(rounds: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(offset_s, round_trip_s) from ``(sent_s, master_s, received_s)`` round trips (pure).

    ``sent_s``/``received_s`` are the worker's clock, ``master_s`` the master's; the round
    with the shortest trip wins, and the offset (master minus worker) is taken at its midpoint.
    """
    sent, master, received = min(rounds, key=lambda r: r[2] - r[0])
    return master - (sent + received) / 2.0, received - sent


class _MessageFile:
    """A write-only "file" whose ``write`` sends the text to the master as one message."""

    def __init__(self, runner: Any, kind: str) -> None:
        self.runner, self.kind = runner, kind

    def write(self, text: str) -> None:
        self.runner.send_message(self.kind, {"pid": os.getpid(), "text": text})

    def flush(self) -> None:
        return None


class StreamingRecorder(SampleRecorder):
    """A worker's recorder: same per-request path, but its flush sends instead of writing."""

    def __init__(self, runner: Any) -> None:
        super().__init__("")
        self.runner = runner

    def _open(self) -> None:
        self._pid = os.getpid()
        self._buffer, self._dropped = [], []
        self._handle = _MessageFile(self.runner, _SAMPLES)
        self._dropped_handle = _MessageFile(self.runner, _DROPPED)
        gevent.spawn(self._flush_forever)


def install_worker(environment: Any, master_host: str) -> StreamingRecorder:
    """On a Locust worker: stream samples, time the clock, report CPU. Returns the recorder."""
    runner = environment.runner
    recorder = StreamingRecorder(runner)
    environment.events.request.add_listener(recorder.on_request)
    environment.events.test_stop.add_listener(lambda **_: recorder.flush())
    environment.events.quitting.add_listener(lambda **_: recorder.flush())
    replies: gevent.queue.Queue[tuple[float, float, float]] = gevent.queue.Queue()

    def on_clock(environment: Any, msg: Any, **_: Any) -> None:
        replies.put((float(msg.data["sent_s"]), float(msg.data["master_s"]), time.time()))

    runner.register_message(_CLOCK, on_clock)
    gevent.spawn(_sync_and_report, runner, replies, master_host)
    return recorder


def _sync_and_report(runner: Any, replies: Any, master_host: str) -> None:
    """Time the clock against the master, say hello, then report this process's CPU every second."""
    import psutil  # a Locust dependency; imported here so the master never needs it early

    gevent.sleep(0.5)  # let the worker's client_ready / ack exchange happen first
    rounds = []
    for _ in range(CLOCK_ROUNDS):
        runner.send_message(_CLOCK, {"pid": os.getpid(), "sent_s": time.time()})
        try:
            rounds.append(replies.get(timeout=5.0))
        except gevent.queue.Empty:
            continue
    offset_s, trip_s = best_offset(rounds) if rounds else (0.0, -1.0)
    runner.send_message(_HELLO, {"pid": os.getpid(), "host": socket.gethostname(),
                                 "address": _local_address(master_host), "offset_s": offset_s,
                                 "round_trip_s": trip_s, "synced": bool(rounds)})
    process = psutil.Process()
    process.cpu_percent()
    while True:
        gevent.sleep(REPORT_INTERVAL_S)
        runner.send_message(_CPU, {"pid": os.getpid(), "cpu_pct": process.cpu_percent()})


def _local_address(master_host: str) -> str:
    """The address this host uses to reach ``master_host`` (no packet is sent: UDP connect)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((master_host, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


class _Worker:
    """What the master knows of one worker process."""

    def __init__(self, node_id: str, index: int) -> None:
        self.node_id, self.index = node_id, index
        self.host = self.address = ""
        self.pid = 0
        self.offset_s = 0.0
        self.round_trip_s = -1.0
        self.synced = False
        self.requests = self.dropped = 0
        self.cpu: list[float] = []
        self.missing = False

    def report(self) -> dict[str, Any]:
        return {"id": self.node_id, "index": self.index, "host": self.host, "address": self.address,
                "pid": self.pid, "clock_offset_s": self.offset_s, "round_trip_s": self.round_trip_s,
                "synced": self.synced, "requests": self.requests, "dropped": self.dropped,
                "cpu_samples_pct": self.cpu, "missing": self.missing}


class MasterCollector:
    """On the Locust master: receive the workers' samples and reports, write them to ``directory``."""

    def __init__(self, environment: Any, directory: str) -> None:
        self.environment, self.directory = environment, directory
        self.workers: dict[str, _Worker] = {}
        self.handles: dict[tuple[str, str], Any] = {}
        runner = environment.runner
        for kind, listener in ((_SAMPLES, self.on_samples), (_DROPPED, self.on_dropped),
                               (_CLOCK, self.on_clock), (_HELLO, self.on_hello), (_CPU, self.on_cpu),
                               (_SCHEDULE, self.on_schedule)):
            runner.register_message(kind, listener)
        environment.events.test_stop.add_listener(lambda **_: self.write_report(judge=False))
        environment.events.quitting.add_listener(lambda **_: self.close())
        gevent.spawn(self._report_forever)

    def worker(self, msg: Any) -> _Worker:
        node = str(msg.node_id)
        if node not in self.workers:
            self.workers[node] = _Worker(node, int(self.environment.runner.get_worker_index(node)))
        found = self.workers[node]
        found.pid = int(msg.data.get("pid", found.pid) or found.pid)
        return found

    def on_clock(self, environment: Any, msg: Any, **_: Any) -> None:
        environment.runner.send_message(_CLOCK, {"sent_s": msg.data["sent_s"], "master_s": time.time()},
                                        client_id=msg.node_id)

    def on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        worker = self.worker(msg)
        worker.host, worker.address = str(msg.data["host"]), str(msg.data["address"])
        worker.offset_s, worker.round_trip_s = float(msg.data["offset_s"]), float(msg.data["round_trip_s"])
        worker.synced = bool(msg.data["synced"])

    def on_cpu(self, environment: Any, msg: Any, **_: Any) -> None:
        self.worker(msg).cpu.append(float(msg.data["cpu_pct"]))

    def on_samples(self, environment: Any, msg: Any, **_: Any) -> None:
        worker = self.worker(msg)
        text = msg.data["text"]
        worker.requests += text.count("\n")
        self._write("samples", worker, shift_lines(text, worker.offset_s, (0, 9)))

    def on_dropped(self, environment: Any, msg: Any, **_: Any) -> None:
        worker = self.worker(msg)
        text = msg.data["text"]
        worker.dropped += text.count("\n")
        self._write("dropped", worker, shift_lines(text, worker.offset_s, (0,)))

    def on_schedule(self, environment: Any, msg: Any, **_: Any) -> None:
        worker = self.worker(msg)
        path = os.path.join(self.directory, f"schedule-w{worker.index}-{worker.pid}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(msg.data["report"], handle)

    def _write(self, kind: str, worker: _Worker, text: str) -> None:
        key = (kind, worker.node_id)
        if key not in self.handles:
            path = os.path.join(self.directory, f"{kind}-w{worker.index}-{worker.pid}.tsv")
            self.handles[key] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at quit
        self.handles[key].write(text)
        self.handles[key].flush()

    def write_report(self, judge: bool = True) -> None:
        """``workers.json``: every worker process seen, with Locust's missing verdict (atomic write).

        A worker is missing once Locust's heartbeat says so, or when it left the master's
        clients while the test was still running (``judge``: not after the test stopped).
        """
        from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING

        runner = self.environment.runner
        clients = getattr(runner, "clients", {})
        running = judge and runner.state in (STATE_RUNNING, STATE_SPAWNING)
        for node, worker in self.workers.items():
            client = clients.get(node)
            if (client is not None and client.state == STATE_MISSING) or (client is None and running):
                worker.missing = True
        report = {"workers": [w.report() for w in sorted(self.workers.values(), key=lambda w: w.index)]}
        path = os.path.join(self.directory, WORKERS_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(report, handle)
        os.replace(path + ".tmp", path)

    def close(self) -> None:
        self.write_report(judge=False)
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()

    def _report_forever(self) -> None:
        while True:
            gevent.sleep(REPORT_INTERVAL_S)
            self.write_report()


def send_schedule(runner: Any, report: dict[str, Any]) -> None:
    """From a worker: hand the open-model scheduler's lag report to the master."""
    runner.send_message(_SCHEDULE, {"pid": os.getpid(), "report": report})
