"""bench.toml -> one validated, typed configuration.

All defaults live in the dataclasses below. ``load_config`` fails with a
``ConfigError`` naming the key, the bad value and the valid choices for an
unknown key, a value of the wrong type, a bad unit or an unknown name.

Fields whose metadata says ``unit`` are parsed from strings: ``duration``
(-> seconds), ``size`` (-> MiB), ``percent`` (-> fraction).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from harness.errors import ConfigError
from harness.units import parse_duration, parse_percent, parse_size_mb

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "bench.toml"
TARGET_NAMES = ("monolith", "microservices", "event-driven")
BACKENDS = ("auto", "local", "docker")


def _unit(kind: str, default: Any) -> Any:
    return field(default=default, metadata={"unit": kind})


@dataclass(frozen=True)
class RunConfig:
    targets: tuple[str, ...] = TARGET_NAMES
    profile: str = "quick"
    backend: Literal["auto", "local", "docker"] = "auto"
    out: str = "reports"
    health_timeout: float = _unit("duration", 60.0)  # seconds


@dataclass(frozen=True)
class CpuConfig:
    """CPU sets (Linux cpuset syntax, e.g. "0" or "1-3") for the generator and the targets."""

    generator_cpus: str = "0"
    target_cpus: str = "1"
    generator_processes: int = 1
    generator_bound_pct: float = 90.0  # mean generator CPU % above which a run is generator-bound


@dataclass(frozen=True)
class SeedConfig:
    products: int = 200
    stock: int = 1_000_000  # units per product
    users: int = 50
    price_cents_min: int = 100
    price_cents_max: int = 10_000


@dataclass(frozen=True)
class ScenarioConfig:
    """Task weights of the e-commerce Locust user, and per-request timeout."""

    list_products: int = 30
    view_product: int = 40
    place_order: int = 15
    read_order: int = 10
    login: int = 1
    page_size: int = 20
    max_items_per_order: int = 3
    request_timeout: float = _unit("duration", 10.0)


@dataclass(frozen=True)
class Stage:
    """One step of a load shape: hold ``users`` for ``duration`` seconds."""

    duration: float = _unit("duration", 10.0)
    users: int = 10
    spawn_rate: float = 10.0


@dataclass(frozen=True)
class Profile:
    description: str = ""
    warmup: float = _unit("duration", 5.0)  # seconds cut from the start of the analysis
    stages: tuple[Stage, ...] = (Stage(),)
    rate: float = 0.0  # requests/s for the whole run when > 0 (constant-rate pacing)

    @property
    def duration(self) -> float:
        """Total load time in seconds."""
        return sum(stage.duration for stage in self.stages)


@dataclass(frozen=True)
class AnalysisConfig:
    min_requests: int = 50  # fewer measured requests -> run invalid
    max_error_rate: float = _unit("percent", 0.5)  # more failures -> run invalid


@dataclass(frozen=True)
class IntegrityConfig:
    timeout: float = _unit("duration", 60.0)  # bounded wait for event-driven orders to be final
    poll_interval: float = _unit("duration", 0.5)


@dataclass(frozen=True)
class ServiceOverride:
    cpus: float | None = None
    memory: int | None = _unit("size", None)  # MiB
    workers: int | None = None


@dataclass(frozen=True)
class TargetConfig:
    workers: int = 1  # worker processes for every service of the target, unless overridden
    services: dict[str, ServiceOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class DockerConfig:
    python_image: str = "python:3.11-slim"
    postgres_image: str = "postgres:16"
    nats_image: str = "nats:2.10"
    image_tag: str = "archbench/targets:latest"
    build_timeout: float = _unit("duration", 900.0)


@dataclass(frozen=True)
class PriceConfig:
    source: str = "AWS Fargate Linux/x86, us-east-1, on-demand"
    date: str = "2026-11"
    vcpu_hour: float = 0.04048  # USD per vCPU-hour
    gb_hour: float = 0.004445  # USD per GB-hour
    hours_per_month: float = 730.0


@dataclass(frozen=True)
class CostConfig:
    target_rps: tuple[float, ...] = (100.0, 500.0, 1000.0, 5000.0, 10000.0)


@dataclass(frozen=True)
class Claim:
    """What the article claims for one pattern."""

    rps: tuple[float, float] = (0.0, 0.0)
    latency_ms: tuple[float, float] = (0.0, 0.0)
    monthly_usd: tuple[float, float] = (0.0, 0.0)
    instances: str = ""


@dataclass(frozen=True)
class ClaimsConfig:
    source: str = ""
    latency_metric: str = "p50"  # which measured percentile the article's "response time" means
    targets: dict[str, Claim] = field(default_factory=dict)


@dataclass(frozen=True)
class RegressionConfig:
    metrics: tuple[str, ...] = ("p95", "p99")
    limit: float = _unit("percent", 0.15)
    confidence: float = 0.95
    resamples: int = 2000


@dataclass(frozen=True)
class GateConfig:
    min_requests: int = 100
    thresholds: tuple[str, ...] = ()
    baseline: str = ""  # path of a baseline file; empty: no regression check
    regression: RegressionConfig = RegressionConfig()


@dataclass(frozen=True)
class Config:
    run: RunConfig = RunConfig()
    cpu: CpuConfig = CpuConfig()
    seed: SeedConfig = SeedConfig()
    scenario: ScenarioConfig = ScenarioConfig()
    profiles: dict[str, Profile] = field(default_factory=dict)
    analysis: AnalysisConfig = AnalysisConfig()
    integrity: IntegrityConfig = IntegrityConfig()
    targets: dict[str, TargetConfig] = field(default_factory=dict)
    docker: DockerConfig = DockerConfig()
    prices: PriceConfig = PriceConfig()
    cost: CostConfig = CostConfig()
    claims: ClaimsConfig = ClaimsConfig()
    gate: GateConfig = GateConfig()

    def profile(self, name: str) -> Profile:
        """Return profile ``name`` or fail naming the valid choices."""
        try:
            return self.profiles[name]
        except KeyError:
            choices = ", ".join(sorted(self.profiles)) or "(none defined)"
            raise ConfigError(f"unknown profile {name!r}; valid profiles: {choices}") from None

    def target(self, name: str) -> TargetConfig:
        return self.targets.get(name, TargetConfig())


def load_config(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (default: the project's bench.toml), apply dotted ``overrides``, validate.

    ``overrides`` maps dotted keys to values, e.g. ``{"run.profile": "smoke"}``;
    ``None`` values are ignored so CLI options that were not given change nothing.
    """
    source = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {source} not found; pass --config PATH") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse_config(data, origin=str(source))


def parse_config(data: dict[str, Any], origin: str = "bench.toml") -> Config:
    """Validate a TOML-shaped dict into ``Config``; raise ``ConfigError`` on the first problem."""
    config = _build(Config, data, origin, "")
    _check_names(config, origin)
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved configuration as plain JSON-able data (for results.json)."""
    return dataclasses.asdict(config)


def _check_names(config: Config, origin: str) -> None:
    for name in config.run.targets:
        if name not in TARGET_NAMES:
            raise ConfigError(
                f"{origin}: run.targets: unknown target {name!r}; valid targets: "
                + ", ".join(TARGET_NAMES)
            )
    for name in config.targets:
        if name not in TARGET_NAMES:
            raise ConfigError(
                f"{origin}: [targets.{name}]: unknown target {name!r}; valid targets: "
                + ", ".join(TARGET_NAMES)
            )
    for name in config.claims.targets:
        if name not in TARGET_NAMES:
            raise ConfigError(
                f"{origin}: [claims.targets.{name}]: unknown target {name!r}; valid targets: "
                + ", ".join(TARGET_NAMES)
            )
    if config.run.profile not in config.profiles:
        choices = ", ".join(sorted(config.profiles)) or "(none defined)"
        raise ConfigError(
            f"{origin}: run.profile: unknown profile {config.run.profile!r}; valid profiles: {choices}"
        )
    for name, profile in config.profiles.items():
        if not profile.stages:
            raise ConfigError(f"{origin}: profiles.{name}.stages: a profile needs at least one stage")
        for index, stage in enumerate(profile.stages):
            if stage.users < 1 or stage.duration <= 0 or stage.spawn_rate <= 0:
                raise ConfigError(
                    f"{origin}: profiles.{name}.stages[{index}]: users must be >= 1, "
                    f"duration > 0 and spawn_rate > 0 (got {stage})"
                )
    if config.cpu.generator_processes < 1:
        raise ConfigError(f"{origin}: cpu.generator_processes must be >= 1")


# -- generic dataclass builder -------------------------------------------------------------


def _build(cls: type, data: Any, origin: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: {path or 'top level'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            choices = ", ".join(name for name in fields)
            raise ConfigError(f"{origin}: unknown key {where!r}; valid keys here: {choices}")
        unit = fields[key].metadata.get("unit")
        kwargs[key] = _convert(hints[key], value, origin, where, unit)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, origin: str, where: str, unit: str | None) -> Any:
    origin_type = get_origin(hint)
    args = get_args(hint)
    if unit is not None and value is not None:
        parser = {"duration": parse_duration, "size": parse_size_mb, "percent": parse_percent}[unit]
        try:
            return parser(value)
        except ValueError as error:
            raise ConfigError(f"{origin}: {where}: {error}") from None
    if origin_type in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, origin, where, unit)
    if origin_type is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{origin}: {where}: {value!r} is not valid; choose one of {choices}")
        return value
    if origin_type is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: {where}: expected a table, got {value!r}")
        return {k: _convert(args[1], v, origin, f"{where}.{k}", None) for k, v in value.items()}
    if origin_type is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{origin}: {where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, origin, f"{where}[{i}]", None) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{origin}: {where}: expected {len(args)} values, got {value!r}")
        return tuple(_convert(a, v, origin, f"{where}[{i}]", None) for i, (a, v) in enumerate(zip(args, value, strict=False)))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, origin, where)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{origin}: {where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{origin}: {where}: expected a whole number, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {where}: expected a string, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{origin}: {where}: expected true or false, got {value!r}")
        return value
    return value
