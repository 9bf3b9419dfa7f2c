"""Pure helpers over a profile's stages (no Locust import: safe to use from the harness and tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
