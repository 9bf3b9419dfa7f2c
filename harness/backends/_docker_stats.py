"""Resource readings of the docker backend from the Docker stats API.

Each container's stats stream (one document a second) is followed by a thread;
``StatsSampler.readings`` hands out the freshest document per container.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import docker.errors
import requests

from harness.backends.base import ResourceReading

# What talking to an absent, dead or hung engine raises.
ENGINE_ERRORS: tuple[type[Exception], ...] = (
    docker.errors.DockerException, requests.exceptions.RequestException, OSError,
)


def reading_from_stats(name: str, stats: dict[str, Any], now: float) -> ResourceReading:
    """A ResourceReading from one Docker stats document (cgroup v1 or v2).

    CPU: ``cpu_stats.cpu_usage.total_usage`` (ns) -> seconds. Memory: usage minus the
    inactive page cache, as ``docker stats`` shows it.
    """
    cpu_ns = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0)) or 0
    usage = max(0, int(memory.get("usage") or 0) - int(cache))
    return ResourceReading(name=name, time=now, cpu_seconds=cpu_ns / 1e9, rss_bytes=usage)


class StatsSampler:
    """One thread per container following its Docker stats stream (a document a second).

    ``readings`` returns, per container, a document newer than the one it returned
    last time (waiting up to ``FRESH_WAIT_S`` for it), so a caller sampling once a
    second never sees the same reading twice (which would read as 0 % CPU).
    """

    FRESH_WAIT_S = 1.5

    def __init__(self, client: Any) -> None:
        self._client = client
        self._latest: dict[str, tuple[int, ResourceReading]] = {}  # name -> (sequence, reading)
        self._returned: dict[str, int] = {}  # name -> sequence last handed out
        self._threads: dict[str, threading.Thread] = {}
        self._changed = threading.Condition()

    def watch(self, name: str, container_id: str) -> None:
        """Follow ``container_id``'s stats stream (again, after a restart) under ``name``."""
        thread = self._threads.get(name)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=self._follow, args=(name, container_id),
                                  name=f"docker-stats-{name}", daemon=True)
        self._threads[name] = thread
        thread.start()

    def _follow(self, name: str, container_id: str) -> None:
        try:
            for stats in self._client.api.stats(container_id, stream=True, decode=True):
                if str(stats.get("read", "")).startswith("0001"):  # zero time: container stopped
                    continue
                reading = reading_from_stats(name, stats, time.time())
                with self._changed:
                    sequence = self._latest.get(name, (0, reading))[0] + 1
                    self._latest[name] = (sequence, reading)
                    self._changed.notify_all()
        except ENGINE_ERRORS + (ValueError,):  # container gone (teardown), engine hung up
            return

    def readings(self, containers: list[tuple[str, str]]) -> list[ResourceReading]:
        """A fresh reading per (name, container id); one-shot stats for one never streamed."""
        deadline = time.monotonic() + self.FRESH_WAIT_S

        def all_fresh() -> bool:
            return all(self._latest.get(name, (0,))[0] > self._returned.get(name, 0)
                       for name, _ in containers)

        with self._changed:
            while not all_fresh() and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            latest = {name: self._latest.get(name) for name, _ in containers}
            for name, entry in latest.items():
                if entry is not None:
                    self._returned[name] = entry[0]
        result: list[ResourceReading] = []
        for name, container_id in containers:
            entry = latest[name]
            if entry is not None:
                result.append(entry[1])
                continue
            try:
                stats = self._client.api.stats(container_id, stream=False, one_shot=True)
            except ENGINE_ERRORS:
                result.append(ResourceReading(name, time.time(), 0.0, 0))
            else:
                result.append(reading_from_stats(name, stats, time.time()))
        return result
