"""Load shapes as data: a profile's stages from bench.toml drive one ``LoadTestShape``.

A stage holds ``users`` for ``duration`` seconds, reaching that count at ``spawn_rate``
users/s. The shape returns ``None`` after the last stage, which stops the test. The
constant-rate profile uses the same stages plus per-user pacing (see ``pacing``).
"""

from __future__ import annotations

from collections.abc import Sequence

from locust import LoadTestShape

from scenarios.plan import Stage, stage_at


class StagesShape(LoadTestShape):
    """Run ``stages`` (set on the class by the locustfile) in order, then stop."""

    abstract = True
    stages: Sequence[Stage] = ()

    def tick(self) -> tuple[int, float] | None:
        current = stage_at(self.stages, self.get_run_time())
        if current is None:
            return None
        _, stage = current
        return stage.users, stage.spawn_rate


