"""Progress without a terminal: a plain line every interval, each ending with a newline."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from harness.config import Profile
from harness.errors import BenchError
from harness.progress import (
    ProgressSnapshot,
    ProgressView,
    format_progress_line,
    progress_interval_s,
)
from scenarios.plan import Stage

PROFILE = Profile(name="soak", stages=(Stage(duration=20.0, users=10, spawn_rate=10.0),
                                       Stage(duration=10.0, users=20, spawn_rate=10.0)))


def tick(elapsed_s: float) -> ProgressSnapshot:
    return ProgressSnapshot(elapsed_s=elapsed_s, rps=100.0 + elapsed_s, p95_ms=12.5,
                            requests=int(elapsed_s * 100), failures=int(elapsed_s) // 10)


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=40), buffer


def test_without_a_terminal_a_plain_line_appears_every_interval() -> None:
    console, buffer = plain_console()
    with ProgressView("monolith", PROFILE, console, interval_s=5.0) as view:
        for step in range(61):  # 30 s of ticks every 0.5 s, as run_load makes them
            view.update(tick(step * 0.5), now_s=1000.0 + step * 0.5)
    console.print("summary")
    text = buffer.getvalue()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[-1] == "summary"  # the summary starts on a line of its own
    progress = lines[:-1]
    # at 5, 10, ... 30 s, and the final line on exit
    assert len(progress) == 7, lines
    assert [re.search(r"  (\d+)/30s  ", line).group(1) for line in progress[:6]] == [  # type: ignore[union-attr]
        "5", "10", "15", "20", "25", "30"]
    assert all(line.startswith("monolith  stage ") for line in progress)
    assert "┃" not in text and "\x1b" not in text  # no table frame, no escape codes


def test_a_line_names_target_stage_elapsed_rps_p95_and_errors() -> None:
    line = format_progress_line("event-driven", PROFILE, tick(25.0))
    assert line == ("event-driven  stage 2/2 (20 users)  25/30s  RPS 125  p95 12.5 ms  "
                    "requests 2500  errors 2")
    empty = ProgressSnapshot(elapsed_s=0.0, rps=0.0, p95_ms=None, requests=0, failures=0)
    assert "p95 –" in format_progress_line("monolith", PROFILE, empty)


def test_a_stall_does_not_burst_lines() -> None:
    console, buffer = plain_console()
    with ProgressView("monolith", PROFILE, console, interval_s=5.0) as view:
        view.update(tick(0.0), now_s=0.0)
        view.update(tick(21.0), now_s=21.0)  # the loop was stalled for 21 s
        view.update(tick(21.5), now_s=21.5)
        view.update(tick(22.0), now_s=22.0)
    assert len(buffer.getvalue().splitlines()) == 2  # one when due, one on exit


def test_on_a_terminal_the_live_table_ends_with_a_newline() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with ProgressView("monolith", PROFILE, console, interval_s=5.0) as view:
        view.update(tick(1.0), now_s=1.0)
    console.print("summary")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())  # drop colour and cursor codes
    assert plain.splitlines()[-1] == "summary"
    assert "monolith" in plain.splitlines()[-2]


@pytest.mark.parametrize(("value", "seconds"), [("", 5.0), ("2", 2.0), ("10s", 10.0), ("0.5", 0.5)])
def test_interval_from_the_environment(value: str, seconds: float) -> None:
    assert progress_interval_s({"BENCH_PROGRESS_INTERVAL": value}) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "fast", "nan", "inf"])
def test_a_bad_interval_names_the_variable_and_the_valid_form(value: str) -> None:
    with pytest.raises(BenchError, match=r"BENCH_PROGRESS_INTERVAL=.* positive number"):
        progress_interval_s({"BENCH_PROGRESS_INTERVAL": value})
