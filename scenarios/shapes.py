"""Load shapes as data: a profile's stages from bench.toml drive one ``LoadTestShape``.

A stage holds ``users`` for ``duration`` seconds, reaching that count at ``spawn_rate``
users/s. The shape returns ``None`` after the last stage, which stops the test. The
constant-rate profile uses the same stages plus per-user pacing (see ``pacing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from locust import LoadTestShape


def stage_at(stages: Sequence[dict[str, Any]], elapsed_s: float) -> tuple[int, dict[str, Any]] | None:
    """(index, stage) active ``elapsed_s`` seconds into the run, or None once all are over."""
    end = 0.0
    for index, stage in enumerate(stages):
        end += float(stage["duration"])
        if elapsed_s < end:
            return index, stage
    return None


def pacing(rate: float, stages: Sequence[dict[str, Any]]) -> float:
    """Task runs per second per user for a constant total ``rate`` (requests/s).

    Each user waits so that it runs ``rate / max_users`` tasks a second
    (``locust.constant_throughput``); one task is one request in our scenario, so at full
    user count the generator offers ``rate`` requests/s whatever the target's latency, as
    long as latency stays under ``max_users / rate`` seconds.
    """
    peak = max(int(stage["users"]) for stage in stages)
    return rate / peak


class StagesShape(LoadTestShape):
    """Run ``stages`` (set on the class by the locustfile) in order, then stop."""

    abstract = True
    stages: Sequence[dict[str, Any]] = ()

    def tick(self) -> tuple[int, float] | None:
        current = stage_at(self.stages, self.get_run_time())
        if current is None:
            return None
        _, stage = current
        return int(stage["users"]), float(stage["spawn_rate"])


def make_shape(stages: Sequence[dict[str, Any]]) -> type[StagesShape]:
    """A concrete shape class for ``stages`` (Locust picks up the one class in the locustfile)."""
    return type("ProfileShape", (StagesShape,), {"stages": tuple(stages), "abstract": False})
