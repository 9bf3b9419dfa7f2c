"""The settings the harness hands to the Locust subprocess, as one JSON file.

The harness (``harness.load``) writes the file and names it in the environment variable
``ARCHBENCH_SCENARIO``; every Locust process (master and ``--processes`` workers) reads it
once at import. Keeping this a plain JSON document means the scenario never imports the
harness (Locust monkeypatches the process with gevent).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "ARCHBENCH_SCENARIO"


@dataclass(frozen=True)
class ScenarioSettings:
    """Everything the shopper, the shape and the hook need (units in the names)."""

    credentials: list[tuple[str, str]]  # seeded (username, password) pool
    product_ids: list[int]
    weights: dict[str, int]  # task name -> weight (list_products, view_product, ...)
    page_size: int = 20
    max_items_per_order: int = 3
    request_timeout_s: float = 10.0
    stages: list[dict[str, float]] = field(default_factory=list)  # duration (s), users, spawn_rate
    rate: float = 0.0  # requests/s for the whole run when > 0 (per-user pacing)
    samples_dir: str = ""  # where the hook writes samples-<pid>.tsv ("" = hook disabled)
    order_socket: str = ""  # "127.0.0.1:PORT" of the harness's order tracker ("" = none)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioSettings:
        data = dict(data)
        data["credentials"] = [tuple(pair) for pair in data.get("credentials", [])]
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
