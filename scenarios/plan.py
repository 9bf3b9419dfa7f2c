"""A profile's stages and the only code that walks them (no Locust, no harness import).

``Stage`` is the one representation of a load step: bench.toml profiles load into it
(``harness.config`` reads its ``unit`` metadata), the scenario settings file carries it
to Locust, and the load shape, the live progress line and the analysis' planned-users
column all ask the functions below.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One step of a load shape, closed or open model.

    Closed model: hold ``users`` for ``duration`` seconds, ramping at ``spawn_rate``/s.
    Open model (``rate`` > 0): requests arrive at ``rate`` per second for ``duration``
    seconds, whatever the responses do; ``users`` is then unused.
    """

    duration: float = field(default=10.0, metadata={"unit": "duration"})  # seconds
    users: int = 10
    spawn_rate: float = 10.0  # users started (or stopped) per second
    rate: float = 0.0  # open model: arrivals per second (0: a closed-model stage)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        """A stage from its JSON form ``{"duration": s, "users": n, "spawn_rate": r, "rate": a}``."""
        return cls(duration=float(data["duration"]), users=int(data["users"]),
                   spawn_rate=float(data["spawn_rate"]), rate=float(data.get("rate", 0.0)))


def is_open_model(stages: Sequence[Stage]) -> bool:
    """Whether ``stages`` give arrival rates (open model) rather than user counts."""
    return any(stage.rate > 0 for stage in stages)


def total_duration(stages: Sequence[Stage]) -> float:
    """Seconds of load over all ``stages``."""
    return sum(stage.duration for stage in stages)


def stage_at(stages: Sequence[Stage], elapsed_s: float) -> tuple[int, Stage] | None:
    """(index, stage) active ``elapsed_s`` seconds into the run, or None once all are over."""
    end = 0.0
    for index, stage in enumerate(stages):
        end += stage.duration
        if elapsed_s < end:
            return index, stage
    return None


def stage_label(stages: Sequence[Stage], elapsed_s: float) -> str:
    """"stage i/n (U users)" for the moment ``elapsed_s`` seconds into the run, else "stopping"."""
    current = stage_at(stages, elapsed_s)
    if current is None:
        return "stopping"
    index, stage = current
    load = f"{stage.rate:g}/s" if stage.rate > 0 else f"{stage.users} users"
    return f"{index + 1}/{len(stages)} ({load})"


def planned_users(stages: Sequence[Stage], seconds: int) -> list[int]:
    """Users the load shape asks for at each whole second 0..seconds-1 (ramping at spawn_rate)."""
    plan: list[int] = []
    current = 0.0
    for second in range(seconds):
        active = stage_at(stages, second)
        if active is None:  # the shape stops after its last stage
            current = 0.0
        else:
            target, rate = float(active[1].users), active[1].spawn_rate
            if current < target:
                current = min(target, current + rate)
            elif current > target:
                current = max(target, current - rate)
        plan.append(round(current))
    return plan


def pacing(rate: float, stages: Sequence[Stage]) -> float:
    """Task runs per second per user for a constant total ``rate`` (requests/s).

    Each user waits so that it runs ``rate / max_users`` tasks a second
    (``locust.constant_throughput``); one task is one request in our scenario, so at full
    user count the generator offers ``rate`` requests/s whatever the target's latency, as
    long as latency stays under ``max_users / rate`` seconds.
    """
    peak = max(stage.users for stage in stages)
    return rate / peak


def planned_rate(stages: Sequence[Stage], seconds: int) -> list[float]:
    """Arrivals per second the open-model schedule offers at each whole second 0..seconds-1."""
    rates = []
    for second in range(seconds):
        active = stage_at(stages, second + 0.5)
        rates.append(active[1].rate if active is not None else 0.0)
    return rates


def _time_of(stages: Sequence[Stage], arrivals: float) -> float | None:
    """Seconds from the origin at which the cumulative intended arrivals reach ``arrivals``.

    The cumulative count is the integral of the stages' rates (piecewise linear), so the
    schedule has no drift across stage boundaries. None past the last stage.
    """
    start = 0.0
    for stage in stages:
        expected = stage.rate * stage.duration
        if stage.rate > 0 and arrivals < expected:
            return start + arrivals / stage.rate
        arrivals -= expected
        start += stage.duration
    return None


def arrival_offsets(
    stages: Sequence[Stage], *, index: int = 0, processes: int = 1, poisson: bool = False,
    seed: int = 0,
) -> Iterator[float]:
    """Intended send times (seconds from the schedule's origin) of one process's arrivals.

    The whole schedule is divided exactly over ``processes`` generator processes:
    constant arrivals number n = 0, 1, 2, ... fall at the time the cumulative rate
    reaches n, and process ``index`` takes every n with n % processes == index (no
    integer rounding of rates, so no drift). Poisson arrivals: each process runs an
    independent Poisson process of rate/processes (their superposition is Poisson of
    the full rate), seeded by ``seed`` and ``index`` so runs repeat.
    """
    if not 0 <= index < processes:
        raise ValueError(f"process index {index} not in 0..{processes - 1}")
    if not poisson:
        n = index
        while (offset := _time_of(stages, n)) is not None:
            yield offset
            n += processes
        return
    rng = random.Random(seed * 1_000_003 + index)
    cumulative = rng.expovariate(1.0 / processes)
    while (offset := _time_of(stages, cumulative)) is not None:
        yield offset
        cumulative += rng.expovariate(1.0 / processes)
