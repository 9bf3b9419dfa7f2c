"""Load shapes as data: a profile's stages from bench.toml drive one ``LoadTestShape``.

A stage holds ``users`` for ``duration`` seconds, reaching that count at ``spawn_rate``
users/s. The shape returns ``None`` after the last stage, which stops the test. The
constant-rate profile uses the same stages plus per-user pacing (see ``pacing``). An
open-model profile runs one arrival driver per generator process for the stages' total
duration (plus a short drain); the drivers keep the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

from locust import LoadTestShape

from scenarios.plan import Stage, stage_at, total_duration


class StagesShape(LoadTestShape):
    """Run ``stages`` (set on the class by the locustfile) in order, then stop."""

    abstract = True
    stages: Sequence[Stage] = ()
    arrival_drivers = 0  # open model: one ArrivalShopper per generator process (0: closed model)
    drain_s = 0.0  # open model: at most this long after the schedule for answers in flight
    drivers_done = 0  # drivers in this process whose arrivals were all answered

    def tick(self) -> tuple[int, float] | None:
        if self.arrival_drivers:
            elapsed = self.get_run_time()
            if elapsed >= total_duration(self.stages) and self.drivers_done >= self.arrival_drivers:
                return None  # single process: every arrival answered, no need to wait longer
            running = elapsed < total_duration(self.stages) + self.drain_s
            return (self.arrival_drivers, float(self.arrival_drivers)) if running else None
        current = stage_at(self.stages, self.get_run_time())
        if current is None:
            return None
        _, stage = current
        return stage.users, stage.spawn_rate


