"""A profile's stages and the only code that walks them (no Locust, no harness import).

``Stage`` is the one representation of a load step: bench.toml profiles load into it
(``harness.config`` reads its ``unit`` metadata), the scenario settings file carries it
to Locust, and the load shape, the live progress line and the analysis' planned-users
column all ask the functions below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One step of a load shape: hold ``users`` for ``duration`` seconds, ramping at ``spawn_rate``/s."""

    duration: float = field(default=10.0, metadata={"unit": "duration"})  # seconds
    users: int = 10
    spawn_rate: float = 10.0  # users started (or stopped) per second

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        """A stage from its JSON form ``{"duration": s, "users": n, "spawn_rate": r}``."""
        return cls(duration=float(data["duration"]), users=int(data["users"]),
                   spawn_rate=float(data["spawn_rate"]))


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
    return f"{index + 1}/{len(stages)} ({stage.users} users)"


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
