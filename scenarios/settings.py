"""The settings the harness hands to the Locust subprocess, as one JSON file.

The harness (``harness.load``) writes the file and names it in the environment variable
``ARCHBENCH_SCENARIO``; every Locust process (master and ``--processes`` workers) reads it
once at import. Keeping this a plain JSON document means the scenario never imports the
harness (Locust monkeypatches the process with gevent); the harness types below are
imported for the type checker only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scenarios.plan import Stage

if TYPE_CHECKING:
    from harness.config import Profile, ScenarioConfig
    from harness.seed import SeedResult

ENV_VAR = "ARCHBENCH_SCENARIO"
TASKS = ("list_products", "view_product", "place_order", "read_order", "login")  # weight keys


@dataclass(frozen=True)
class ScenarioSettings:
    """Everything the shopper, the shape and the hook need (units in the names)."""

    credentials: list[tuple[str, str]]  # seeded (username, password) pool
    product_ids: list[int]
    weights: dict[str, int]  # task name (TASKS) -> weight
    page_size: int = 20
    max_items_per_order: int = 3
    request_timeout_s: float = 10.0
    stages: tuple[Stage, ...] = ()
    rate: float = 0.0  # requests/s for the whole run when > 0 (per-user pacing)
    arrival: str = "constant"  # open model: "constant" or "poisson" spacing of arrivals
    max_in_flight: int = 1000  # open model: outstanding requests at once, over all processes
    # generator processes sharing the open-model schedule: with remote workers, all of them
    # (hosts x processes per host); each takes Locust's worker_index, which the master
    # numbers 0..N-1 over every worker process of every host, as its share of the schedule
    processes: int = 1
    arrival_seed: int = 0  # seeds the Poisson schedule (runs repeat)
    samples_dir: str = ""  # where the hook writes samples-<pid>.tsv ("" = hook disabled)
    order_socket: str = ""  # "127.0.0.1:PORT" of the harness's order tracker ("" = none)
    # distributed generator: the address workers reach the master at ("" = one host); then
    # workers stream their samples to the master (scenarios.remote) instead of writing files
    master_host: str = ""

    @classmethod
    def from_config(cls, scenario: ScenarioConfig, seed: SeedResult, profile: Profile, *,
                    samples_dir: str = "", order_socket: str = "",
                    processes: int = 1, master_host: str = "") -> ScenarioSettings:
        """The settings for one run: ``[scenario]`` weights and limits, ``seed``'s pool, ``profile``'s stages."""
        return cls(
            credentials=list(seed.credentials), product_ids=list(seed.product_ids),
            weights=cls.weights_of(scenario),
            page_size=scenario.page_size, max_items_per_order=scenario.max_items_per_order,
            request_timeout_s=scenario.request_timeout, stages=tuple(profile.stages),
            rate=profile.rate, samples_dir=samples_dir, order_socket=order_socket,
            arrival=profile.arrival, max_in_flight=profile.max_in_flight, processes=processes,
            master_host=master_host,
        )

    @staticmethod
    def weights_of(scenario: ScenarioConfig) -> dict[str, int]:
        """Task name -> weight, from ``[scenario]`` (one entry per name in ``TASKS``)."""
        return {task: int(getattr(scenario, task)) for task in TASKS}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioSettings:
        data = dict(data)
        data["credentials"] = [tuple(pair) for pair in data.get("credentials", [])]
        data["stages"] = tuple(Stage.from_dict(stage) for stage in data.get("stages", []))
        return cls(**data)


def load_settings() -> ScenarioSettings:
    """Read the settings file named by ``ARCHBENCH_SCENARIO``; fail loudly when it is absent."""
    path = os.environ.get(ENV_VAR)
    if not path:
        raise RuntimeError(
            f"{ENV_VAR} is not set: this locustfile is started by `bench run`, which writes "
            "the seeded credentials and the profile to a JSON file and names it there"
        )
    with open(path, encoding="utf-8") as handle:
        return ScenarioSettings.from_dict(json.load(handle))
