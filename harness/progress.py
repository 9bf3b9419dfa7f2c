"""What a load run shows while it runs: a live table on a terminal, plain lines in a log.

On a terminal a rich ``Live`` table is redrawn twice a second. Without one (CI, ``| tee``,
captured output) ``Live`` prints only its last frame, so a 30-minute soak would say nothing
for 30 minutes: instead one plain line every ``interval_s`` seconds (default 5, or
``BENCH_PROGRESS_INTERVAL``), as Locust and k6 do, and a last line when load ends. Every
line ends with a newline, so whatever is printed next starts on a line of its own.

The figures (``LiveFigures``) come from the raw sample files the Locust hook writes: RPS and
p95 over the last ``WINDOW_S`` seconds, requests and failures so far.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.config import Profile
from harness.errors import BenchError
from harness.samples import SampleTail
from scenarios.plan import stage_label

INTERVAL_ENV = "BENCH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 5.0  # seconds between plain progress lines
WINDOW_S = 5  # seconds over which live RPS and p95 are computed
LATE_S = 1.5  # samples reach the files up to ~1 s late: the window ends this long ago


@dataclass(frozen=True)
class ProgressSnapshot:
    """The live figures at one moment of a load run."""

    elapsed_s: float  # seconds since the load shape started (0 until it has)
    rps: float  # requests per second over the last WINDOW_S seconds
    p95_ms: float | None  # their 95th percentile latency (None: no request in the window)
    requests: int  # recorded so far
    failures: int  # recorded so far


def progress_interval_s(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between plain progress lines: ``BENCH_PROGRESS_INTERVAL`` ("5", "10s") or 5.

    BenchError naming the variable, its value and the valid form when it is not a positive
    number of seconds.
    """
    raw = (os.environ if environ is None else environ).get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw.removesuffix("s"))
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise BenchError(f"{INTERVAL_ENV}={raw!r} is not valid: give the seconds between progress "
                         "lines as a positive number, e.g. 5 or 10s")
    return value


def format_progress_line(target: str, profile: Profile, snapshot: ProgressSnapshot) -> str:
    """One plain progress line (no newline, no markup): target, stage, elapsed/total, RPS, p95, errors."""
    total = profile.duration
    elapsed = min(snapshot.elapsed_s, total)
    p95 = "–" if snapshot.p95_ms is None else f"{snapshot.p95_ms:.1f} ms"
    return (f"{target}  stage {stage_label(profile.stages, snapshot.elapsed_s)}  {elapsed:.0f}/{total:.0f}s  "
            f"RPS {snapshot.rps:.0f}  p95 {p95}  requests {snapshot.requests}  errors {snapshot.failures}")


def progress_table(target: str, profile: Profile, snapshot: ProgressSnapshot) -> Table:
    """The same figures as a one-row rich table (the terminal's live view)."""
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("target", "stage", "elapsed", "RPS", "p95", "requests", "failures"):
        table.add_column(column, justify="right" if column not in ("target", "stage") else "left")
    total = profile.duration
    table.add_row(
        target, stage_label(profile.stages, snapshot.elapsed_s),
        f"{min(snapshot.elapsed_s, total):.0f}/{total:.0f}s", f"{snapshot.rps:.0f}",
        "–" if snapshot.p95_ms is None else f"{snapshot.p95_ms:.1f} ms", f"{snapshot.requests}",
        f"[red]{snapshot.failures}[/red]" if snapshot.failures else "0",
    )
    return table


class ProgressView:
    """Shows snapshots: live on a terminal, one plain line per ``interval_s`` seconds otherwise.

    Use as a context manager; call ``update(snapshot, now_s)`` as often as convenient
    (``now_s``: any monotonic clock in seconds). On exit the last snapshot is shown once more
    (the live table's final frame, or a final plain line).
    """

    def __init__(self, target: str, profile: Profile, console: Console,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.target = target
        self.profile = profile
        self.console = console
        self.interval_s = interval_s
        self.snapshot = ProgressSnapshot(elapsed_s=0.0, rps=0.0, p95_ms=None, requests=0, failures=0)
        self._live: Live | None = None
        self._next_line_s: float | None = None  # when the next plain line is due

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._live = Live(progress_table(self.target, self.profile, self.snapshot), console=self.console,
                              refresh_per_second=2, transient=False)
            self._live.start()
        return self

    def update(self, snapshot: ProgressSnapshot, now_s: float) -> None:
        """Show ``snapshot`` (redraw the table, or print a line if one is due at ``now_s``)."""
        self.snapshot = snapshot
        if self._live is not None:
            self._live.update(progress_table(self.target, self.profile, snapshot))
            return
        if self._next_line_s is None:
            self._next_line_s = now_s + self.interval_s
        elif now_s >= self._next_line_s:
            self._print_line()
            # stay on the grid (5, 10, 15 s...) without bursts after a stall
            self._next_line_s = max(self._next_line_s + self.interval_s, now_s + self.interval_s / 2)

    def _print_line(self) -> None:
        self.console.print(format_progress_line(self.target, self.profile, self.snapshot),
                           markup=False, highlight=False, soft_wrap=True)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()  # on a terminal rich ends the final frame with a newline
        else:
            self._print_line()


class LiveFigures:
    """Rolling figures from the sample files in ``directory`` (see ``ProgressSnapshot``)."""

    def __init__(self, directory: Path) -> None:
        self.tail = SampleTail(directory)
        self.recent: collections.deque[tuple[np.ndarray, np.ndarray]] = collections.deque()
        self.requests = 0
        self.failures = 0

    def snapshot(self, now: float, start_s: float | None) -> ProgressSnapshot:
        """Read what was appended since the last call; figures at epoch second ``now``.

        ``start_s``: epoch second the load shape started (None: not yet, elapsed 0).
        """
        start, latency, ok = self.tail.read_new()
        self.requests += len(start)
        self.failures += int((~ok).sum())
        if len(start):
            self.recent.append((start, latency))
        while self.recent and self.recent[0][0].max() < now - WINDOW_S - 2:
            self.recent.popleft()
        rps, p95 = 0.0, None
        if self.recent:
            starts = np.concatenate([s for s, _ in self.recent])
            latencies = np.concatenate([lat for _, lat in self.recent])
            high = now - LATE_S
            inside = (starts >= high - WINDOW_S) & (starts < high)
            if inside.any():
                rps, p95 = float(inside.sum() / WINDOW_S), float(np.percentile(latencies[inside], 95))
        elapsed = max(0.0, now - start_s) if start_s is not None else 0.0
        return ProgressSnapshot(elapsed_s=elapsed, rps=rps, p95_ms=p95, requests=self.requests,
                                failures=self.failures)
