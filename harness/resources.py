"""Resource sampling once a second: every service of a deployment and the load generator.

A background thread reads cumulative CPU seconds and memory per instance
(``deployment.read_resources()``) and of the generator's process tree (psutil), and turns
consecutive readings into CPU % (100 = one core busy). Rows follow ``RESOURCE_COLUMNS``;
``t_s`` is seconds since the load started (negative before it).

Generator-bound rule: the generator's CPU % is its process tree's CPU divided by the number
of Locust worker processes (each is one gevent loop and saturates at 100 % of one core).
If its mean over the measured window is at or above ``cpu.generator_bound_pct``, the run
measured the generator, not the target, and is marked ``generator_bound``.

Memory of a process tree (``tree_memory``) is its PSS: each page counted once, shared
pages split between the processes sharing them. Summing RSS instead counts PostgreSQL's
shared buffers once per backend (hundreds of MiB that climb like a leak as backends touch
them). The ``rss_bytes`` column and ``rss_peak_bytes`` keep their names (schema
``archbench/results@1``) but hold the tree's PSS for process trees (``MEMORY_MEASURE``),
its cgroup's memory under docker, and RSS only where PSS cannot be read (another user's
process without privileges; ``tree_memory`` says so).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import psutil

from harness.backends.base import ResourceReading
from harness.procmem import tree_memory_bytes
from harness.results import RESOURCE_COLUMNS, GeneratorInfo, ServiceResources

GENERATOR = "generator"
def tree_reading(name: str, pid: int) -> ResourceReading | None:
    """Cumulative CPU seconds and current memory (PSS bytes) of ``pid`` and its descendants (None if gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return ResourceReading(name=name, time=time.time(), cpu_seconds=cpu, rss_bytes=tree_memory_bytes(processes))


@dataclass
class ResourceSampler:
    """Samples ``read`` (deployment instances) and named process trees every ``interval_s``."""

    read: Callable[[], Sequence[ResourceReading]] | None = None
    processes: dict[str, int] = field(default_factory=dict)  # name -> root pid (generator, --pid)
    interval_s: float = 1.0
    origin_s: float = 0.0  # epoch seconds that t_s counts from (the load start, once known)
    rows: list[tuple[float, str, float, float, int]] = field(default_factory=list)
    _last: dict[str, tuple[float, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def start(self) -> ResourceSampler:
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def sample_once(self) -> None:
        """Take one reading of everything and append rows (cpu_pct vs the previous reading)."""
        readings: list[ResourceReading] = []
        if self.read is not None:
            try:
                readings.extend(self.read())
            except Exception as error:  # noqa: BLE001 - a failed reading must not stop the run
                if len(self.errors) < 5:
                    self.errors.append(f"{type(error).__name__}: {error}")
        for name, pid in list(self.processes.items()):
            reading = tree_reading(name, pid)
            if reading is not None:
                readings.append(reading)
        for reading in readings:
            previous = self._last.get(reading.name)
            pct = 0.0
            if previous is not None and reading.time > previous[0]:
                pct = max(0.0, (reading.cpu_seconds - previous[1]) / (reading.time - previous[0]) * 100.0)
            self._last[reading.name] = (reading.time, reading.cpu_seconds)
            self.rows.append((reading.time, reading.name, reading.cpu_seconds, pct, reading.rss_bytes))

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample_once()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def frame(self) -> pd.DataFrame:
        """All readings as a RESOURCE_COLUMNS frame (t_s relative to ``origin_s``)."""
        frame = pd.DataFrame(self.rows, columns=["time", "name", "cpu_seconds", "cpu_pct", "rss_bytes"])
        frame.insert(0, "t_s", frame.pop("time") - self.origin_s)
        return frame[list(RESOURCE_COLUMNS)]


def summarise(frame: pd.DataFrame, start_t_s: float, end_t_s: float) -> list[ServiceResources]:
    """Per-name CPU seconds used, mean/peak CPU % and peak RSS inside ``[start_t_s, end_t_s]``.

    Pure. The first reading in the window only anchors the CPU-seconds difference.
    """
    inside = frame[(frame["t_s"] >= start_t_s) & (frame["t_s"] <= end_t_s)]
    result: list[ServiceResources] = []
    for name, rows in inside.groupby("name", sort=False):
        cpu_pct = rows["cpu_pct"].iloc[1:] if len(rows) > 1 else rows["cpu_pct"]
        result.append(ServiceResources(
            name=str(name),
            cpu_seconds=float(rows["cpu_seconds"].iloc[-1] - rows["cpu_seconds"].iloc[0]),
            cpu_mean_pct=float(cpu_pct.mean()) if len(cpu_pct) else 0.0,
            cpu_peak_pct=float(cpu_pct.max()) if len(cpu_pct) else 0.0,
            rss_peak_bytes=int(rows["rss_bytes"].max()),
        ))
    return result


LATE_ARRIVAL_MS = 10.0  # a scheduler dispatch later than this is the generator's own lag
LATE_SHARE = 0.01  # more late dispatches than this share: generator-limited


def generator_info(frame: pd.DataFrame, start_t_s: float, end_t_s: float, *, cpus: str,
                   processes: int, bound_pct: float,
                   schedule: dict[str, float] | None = None) -> GeneratorInfo:
    """The generator's CPU over the measured window and the generator-bound verdict (pure).

    Generator-bound when its CPU per process averaged ``bound_pct`` or more, or stayed
    there for a tenth of the seconds (90th percentile; a mean hides saturated bursts),
    or (open model, ``schedule`` from the locustfile) when more than 1 % of arrivals
    were dispatched over 10 ms late: then the schedule was not kept and the figures
    measure the generator.
    """
    rows = frame[(frame["name"] == GENERATOR) & (frame["t_s"] >= start_t_s) & (frame["t_s"] <= end_t_s)]
    pct = rows["cpu_pct"].iloc[1:] / max(1, processes)
    reasons = []
    mean = p90 = peak = None
    if len(pct):
        mean, p90, peak = float(pct.mean()), float(pct.quantile(0.9)), float(pct.max())
        if mean >= bound_pct or p90 >= bound_pct:
            which = f"averaged {mean:.0f}%" if mean >= bound_pct else f"was at {p90:.0f}% or more for a tenth of the time"
            reasons.append(f"load generator CPU {which} per process (limit {bound_pct:.0f}%) on cpus {cpus}")
    if schedule and schedule.get("arrivals"):
        share = schedule.get("late_10ms", 0) / schedule["arrivals"]
        if share > LATE_SHARE:
            reasons.append(f"the generator dispatched {share:.1%} of arrivals more than "
                           f"{LATE_ARRIVAL_MS:g} ms late (p99 {schedule.get('lag_p99_ms', 0):.1f} ms): "
                           "the schedule was not kept")
    reason = ("; ".join(reasons) + ": these numbers measure the generator, not the target; give the "
              "generator more cores (cpu.generator_cpus, cpu.generator_processes) or offer less load"
              ) if reasons else None
    info = GeneratorInfo(cpus=cpus, processes=processes, cpu_mean_pct=mean, cpu_peak_pct=peak,
                         bound=bool(reasons), reason=reason, cpu_p90_pct=p90)
    if schedule:
        info["schedule"] = schedule
    return info
