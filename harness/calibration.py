"""The load generator's measured ceiling, cached once per host for ``bench capacity``.

``bench calibrate`` measures how many requests/s one generator core sends against a
trivial endpoint (``benchmarks/generator_ceiling.py``: archbench's shopper with the raw
sample hook, and a bare ``FastHttpUser`` beside it) and stores the figures in a small
JSON file, by default ``$XDG_CACHE_HOME/archbench/generator-ceiling.json`` (else
``~/.cache/...``; ``BENCH_CALIBRATION_CACHE`` names another)::

    {"version": 1, "ceilings": {"<cpu model> | locust <version> | cpus <generator_cpus>": {...}}}

One entry per host CPU model, Locust version and ``cpu.generator_cpus``: any of them
changing means the figure no longer applies, so it is simply not found. ``bench
capacity`` with ``capacity.max_rate = 0`` caps its search at the cached ceiling (the
shopper's per-core rate times the generator cores it may use) and says so; without an
entry it searches uncapped, as before.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.cpus import parse_cpu_list

CACHE_VERSION = 1
CACHE_ENV = "BENCH_CALIBRATION_CACHE"


@dataclass(frozen=True)
class GeneratorCeiling:
    """What ``bench calibrate`` measured on one host (rates in requests/s)."""

    per_core_rps: float  # archbench's shopper + sample hook, one fully busy generator core
    bare_per_core_rps: float  # a bare FastHttpUser on the same endpoint, for comparison
    rounds: int  # alternating rounds the medians are over
    measured_at: str  # ISO 8601, UTC


# -- pure ---------------------------------------------------------------------------------------


def ceiling_key(cpu_model: str, locust_version: str, generator_cpus: str) -> str:
    """The cache key of one host setup: CPU model, Locust version and the generator's CPU set."""
    cpus = ",".join(str(cpu) for cpu in sorted(parse_cpu_list(generator_cpus))) or "any"
    return f"{cpu_model} | locust {locust_version} | cpus {cpus}"


def find_ceiling(document: Mapping[str, Any], key: str) -> GeneratorCeiling | None:
    """The ceiling stored under ``key`` in a cache ``document``; None when absent or unreadable."""
    ceilings = document.get("ceilings") if document.get("version") == CACHE_VERSION else None
    entry = ceilings.get(key) if isinstance(ceilings, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        ceiling = GeneratorCeiling(per_core_rps=float(entry["per_core_rps"]),
                                   bare_per_core_rps=float(entry["bare_per_core_rps"]),
                                   rounds=int(entry["rounds"]), measured_at=str(entry["measured_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    return ceiling if ceiling.per_core_rps > 0 else None


def with_ceiling(document: Mapping[str, Any], key: str, ceiling: GeneratorCeiling) -> dict[str, Any]:
    """A copy of the cache ``document`` with ``ceiling`` stored under ``key`` (other entries kept)."""
    kept = document.get("ceilings") if document.get("version") == CACHE_VERSION else None
    ceilings = dict(kept) if isinstance(kept, dict) else {}
    ceilings[key] = dataclasses.asdict(ceiling)
    return {"version": CACHE_VERSION, "ceilings": ceilings}


def generator_rate_limit(ceiling: GeneratorCeiling, generator_cpus: str, processes: int) -> float:
    """Requests/s the generator can send: the per-core ceiling times the cores its processes use."""
    cores = len(parse_cpu_list(generator_cpus)) or 1
    return ceiling.per_core_rps * max(1, min(cores, processes))


def default_max_rate(max_rate: float, ceiling: GeneratorCeiling | None, generator_cpus: str,
                     processes: int) -> tuple[float, str]:
    """(``capacity.max_rate`` to search with, what to tell the user; "" when nothing changed).

    A configured cap (> 0) is kept; 0 becomes the generator's ceiling when one was measured.
    """
    if max_rate > 0:
        return max_rate, ""
    if ceiling is None:
        return 0.0, ("capacity.max_rate = 0 and no generator ceiling measured for this host "
                     "(bench calibrate): the search is not capped")
    limit = generator_rate_limit(ceiling, generator_cpus, processes)
    return limit, (f"capacity.max_rate = 0: capping the search at the generator's ceiling, "
                   f"{limit:,.0f} req/s ({ceiling.per_core_rps:,.0f} per core, measured by "
                   f"bench calibrate on {ceiling.measured_at[:10]})")


# -- I/O at the edges ------------------------------------------------------------------------------


def cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the ceiling cache lives (``BENCH_CALIBRATION_CACHE``, else the XDG cache dir)."""
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    base = Path(environ["XDG_CACHE_HOME"]) if environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "archbench" / "generator-ceiling.json"


def host_key(generator_cpus: str) -> str:
    """The cache key of this host: its CPU model, the installed Locust and ``generator_cpus``."""
    from importlib.metadata import version

    from harness.hostinfo import cpu_model

    return ceiling_key(cpu_model(), version("locust"), generator_cpus)


def read_cache(path: Path) -> dict[str, Any]:
    """The cache document at ``path``; {} when it is missing or not JSON (it is only a cache)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def store_ceiling(path: Path, key: str, ceiling: GeneratorCeiling) -> None:
    """Add ``ceiling`` under ``key`` to the cache at ``path`` (written atomically)."""
    from harness.results import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(with_ceiling(read_cache(path), key, ceiling), indent=2) + "\n")


def with_generator_ceiling(config: Config, echo: Callable[[str], None], path: Path | None = None) -> Config:
    """``config`` with ``capacity.max_rate`` defaulted to this host's cached ceiling (when 0); says so."""
    if config.capacity.max_rate > 0:
        return config
    ceiling = find_ceiling(read_cache(path or cache_path()), host_key(config.cpu.generator_cpus))
    max_rate, message = default_max_rate(config.capacity.max_rate, ceiling, config.cpu.generator_cpus,
                                         config.cpu.generator_processes)
    echo(message)
    capacity = dataclasses.replace(config.capacity, max_rate=max_rate)
    return dataclasses.replace(config, capacity=capacity)
