"""bench.toml -> one validated, typed configuration.

All defaults live in the dataclasses below. ``load_config`` fails with a
``ConfigError`` naming the key, the bad value and the valid choices for an
unknown key, a value of the wrong type, a bad unit or an unknown name.

Fields whose metadata says ``unit`` are parsed from strings: ``duration``
(-> seconds), ``size`` (-> MiB), ``percent`` (-> fraction). Every number has a valid
range (metadata ``range``, checked on the parsed value) and a few rules relate values
(a warm-up shorter than its profile, task weights not all 0, seed data the task mix
needs); ``load_config`` also checks the CPU sets against this machine (``harness.cpus``).
An error names the key, the value and the valid range; a value set by a command-line
flag is blamed on the flag (``--profile nope: ...``), not on the file.

The generic machinery (``Range``, the field helpers, the builder that walks type hints)
lives in ``harness._config_schema``; this module holds archbench's keys and rules.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness._config_schema import Range, Source, build
from harness._config_schema import number_field as _number
from harness._config_schema import unit_field as _unit
from harness.cpus import check_cpu_list, parse_cpu_list
from harness.distributed import GeneratorHosts, check_generator_hosts
from harness.errors import ConfigError
from harness.faults import FaultPlanError, FaultSpec, check_spec, instances_of, plan_faults
from harness.registry import TARGETS as TOPOLOGIES
from scenarios.plan import Stage  # the one stage record (Locust-free); loaded from profiles

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "bench.toml"
TARGET_NAMES = ("monolith", "microservices", "event-driven")
BACKEND_NAMES = ("local", "docker")  # harness.backends.BACKENDS has one class for each
BACKENDS = ("auto", *BACKEND_NAMES)  # what run.backend / --backend accept
MAX_AMOUNT = 1_000_000_000  # largest price_cents and stock the targets accept
CPU_KEYS = ("generator_cpus", "target_cpus")  # [cpu] keys that hold CPU lists


@dataclass(frozen=True)
class RunConfig:
    targets: tuple[str, ...] = TARGET_NAMES
    profile: str = "quick"
    backend: Literal["auto", "local", "docker"] = "auto"
    out: str = "reports"
    health_timeout: float = _unit("duration", 60.0, gt=0)  # seconds
    # Restart policy while a target runs: an instance that exits on its own (a crash, a
    # fault's kill) is started again after restart_delay, as an orchestrator would.
    restart: Literal["on-failure", "never"] = "on-failure"
    restart_delay: float = _unit("duration", 1.0, ge=0)  # seconds


@dataclass(frozen=True)
class CpuConfig:
    """CPU sets (Linux cpuset syntax, e.g. "0" or "1-3") for the generator and the targets."""

    generator_cpus: str = "0"
    target_cpus: str = "1"
    generator_processes: int = _number(0, ge=0, why="0: one per core of generator_cpus")
    generator_bound_pct: float = _number(90.0, ge=0, le=100)  # mean generator CPU % above which a run is generator-bound
    # Each instance's cpus/memory: "auto" enforces them where the backend can (docker always;
    # local with cgroups, as root) and reports them elsewhere; "enforce" refuses to run
    # without enforcement; "report" never enforces (prices and reports only).
    limits: Literal["auto", "enforce", "report"] = "auto"


@dataclass(frozen=True)
class GeneratorConfig:
    """``[generator]``: load from other hosts with Locust's master/worker mode (``harness.distributed``).

    Each host in ``workers`` runs ``bench worker --master MASTER_HOST:MASTER_PORT
    --processes P`` with P = ``cpu.generator_processes``; empty: load from this host only.
    """

    workers: tuple[str, ...] = ()  # generator host addresses, e.g. ("10.0.0.5", "10.0.0.6")
    master_host: str = "127.0.0.1"  # address of this host the master binds and workers reach
    master_port: int = _number(5557, ge=1, le=65535)
    connect_timeout: float = _unit("duration", 60.0, gt=0)  # seconds to wait for every worker


@dataclass(frozen=True)
class SeedConfig:
    # 0 products or stock is refused when the task mix needs them (see _check_seed)
    products: int = _number(200, ge=0)
    stock: int = _number(1_000_000, ge=0, le=MAX_AMOUNT)  # units per product
    users: int = _number(50, ge=1, why="every simulated user logs in with a seeded account")
    price_cents_min: int = _number(100, ge=0, le=MAX_AMOUNT)
    price_cents_max: int = _number(10_000, ge=0, le=MAX_AMOUNT)


@dataclass(frozen=True)
class ScenarioConfig:
    """Task weights of the e-commerce Locust user, and per-request timeout."""

    list_products: int = _number(30, ge=0)
    view_product: int = _number(40, ge=0)
    place_order: int = _number(15, ge=0)
    read_order: int = _number(10, ge=0)
    login: int = _number(1, ge=0)
    page_size: int = _number(20, ge=1, le=100, why="the targets serve 1 to 100 products per page")
    max_items_per_order: int = _number(3, ge=1, le=20, why="the targets accept 1 to 20 items per order")
    request_timeout: float = _unit("duration", 10.0, gt=0)


@dataclass(frozen=True)
class Profile:
    name: str = ""  # its key in [profiles], set by the loader
    description: str = ""
    warmup: float = _unit("duration", 5.0)  # seconds cut from the start of the analysis
    stages: tuple[Stage, ...] = (Stage(),)
    rate: float = _number(0.0, ge=0, why="0: unpaced")  # requests/s for the whole run when > 0 (constant-rate pacing)
    # Open model (stages give `rate`, arrivals/s): how arrivals are spaced, and how many
    # requests may be outstanding at once over all generator processes; an arrival that
    # finds every slot busy waits (sent late, latency from its intended start), and one
    # still waiting after scenario.request_timeout is dropped and counted.
    arrival: Literal["constant", "poisson"] = "constant"
    max_in_flight: int = _number(1000, ge=1)
    # Faults injected while the load runs (kill / pause / restart an instance or a role such
    # as "@database"); see harness.faults for the syntax and its rules.
    faults: tuple[FaultSpec, ...] = ()

    @property
    def duration(self) -> float:
        """Total load time in seconds."""
        return sum(stage.duration for stage in self.stages)


@dataclass(frozen=True)
class AnalysisConfig:
    min_requests: int = _number(50, ge=1)  # fewer measured requests -> run invalid
    max_error_rate: float = _unit("percent", 0.5, ge=0, le=1)  # more failures -> run invalid


@dataclass(frozen=True)
class IntegrityConfig:
    timeout: float = _unit("duration", 60.0, gt=0)  # bounded wait for event-driven orders to be final
    poll_interval: float = _unit("duration", 0.5, gt=0)


@dataclass(frozen=True)
class ServiceOverride:
    cpus: float | None = _number(None, gt=0)
    memory: int | None = _unit("size", None)  # MiB (the size parser refuses < 1 MiB)
    workers: int | None = _number(None, ge=1)
    replicas: int | None = _number(None, ge=1)  # separate processes / containers of the service


@dataclass(frozen=True)
class TargetConfig:
    workers: int = _number(1, ge=1)  # worker processes for every service of the target, unless overridden
    services: dict[str, ServiceOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class DockerConfig:
    python_image: str = "python:3.11-slim"
    postgres_image: str = "postgres:16"
    nats_image: str = "nats:2.10"
    redis_image: str = "redis:7"
    image_tag: str = "archbench/targets:latest"
    build_timeout: float = _unit("duration", 900.0, gt=0)


@dataclass(frozen=True)
class PriceConfig:
    source: str = "AWS Fargate Linux/x86, us-east-1, on-demand"
    date: str = "2026-11"
    vcpu_hour: float = _number(0.04048, ge=0)  # USD per vCPU-hour
    gb_hour: float = _number(0.004445, ge=0)  # USD per GB-hour
    hours_per_month: float = _number(730.0, gt=0, le=744, why="a month has at most 744 hours")


@dataclass(frozen=True)
class CostConfig:
    target_rps: tuple[float, ...] = _number((100.0, 500.0, 1000.0, 5000.0, 10000.0), gt=0)  # each


@dataclass(frozen=True)
class Claim:
    """What the article claims for one pattern."""

    # (low, high) with 0 <= low <= high; (0, 0): no claim
    rps: tuple[float, float] = _number((0.0, 0.0), ge=0)
    latency_ms: tuple[float, float] = _number((0.0, 0.0), ge=0)
    monthly_usd: tuple[float, float] = _number((0.0, 0.0), ge=0)
    instances: str = ""


@dataclass(frozen=True)
class ClaimsConfig:
    source: str = ""
    latency_metric: str = "p50"  # which measured percentile the article's "response time" means
    targets: dict[str, Claim] = field(default_factory=dict)


@dataclass(frozen=True)
class RegressionConfig:
    metrics: tuple[str, ...] = ("p95", "p99")
    limit: float = _unit("percent", 0.15, gt=0, le=1)
    confidence: float = _number(0.95, gt=0, lt=1)
    resamples: int = _number(2000, ge=100, why="fewer give no usable confidence interval")


@dataclass(frozen=True)
class CapacityConfig:
    """``bench capacity``: the SLO, the search, and each step's open-model load."""

    slo: tuple[str, ...] = ("p99 < 200ms", "error_rate < 1%")  # latency from the intended start
    start_rate: float = _number(100.0, gt=0)  # requests/s of the first step
    growth: float = _number(2.0, gt=1)  # ramp factor while steps hold
    tolerance: float = _unit("percent", 0.10, gt=0, lt=1)  # stop when the bracket is this narrow
    max_steps: int = _number(8, ge=2)
    max_rate: float = _number(0.0, ge=0, why="0: no cap")  # never offer more (requests/s)
    step_duration: float = _unit("duration", 15.0, gt=0)  # seconds of load per step
    step_warmup: float = _unit("duration", 3.0, ge=0)  # cut from the start of each step
    arrival: Literal["constant", "poisson"] = "constant"
    max_in_flight: int = _number(1000, ge=1)  # outstanding requests at once, all processes


@dataclass(frozen=True)
class SweepConfig:  # `bench sweep`'s grid when the command line gives none
    cpus: tuple[float, ...] = (0.5, 1.0)  # total vCPU budgets per target
    replicas: tuple[str, ...] = ()  # "SERVICE=N[,N...]", e.g. "catalog=1,2"


@dataclass(frozen=True)
class GateConfig:
    min_requests: int = _number(100, ge=1)
    thresholds: tuple[str, ...] = ()
    baseline: str = ""  # path of a baseline file; empty: no regression check
    regression: RegressionConfig = RegressionConfig()


@dataclass(frozen=True)
class Config:
    run: RunConfig = RunConfig()
    cpu: CpuConfig = CpuConfig()
    generator: GeneratorConfig = GeneratorConfig()
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
    capacity: CapacityConfig = CapacityConfig()
    sweep: SweepConfig = SweepConfig()

    def profile(self, name: str) -> Profile:
        """Return profile ``name`` or fail naming the valid choices."""
        try:
            return self.profiles[name]
        except KeyError:
            choices = ", ".join(sorted(self.profiles)) or "(none defined)"
            raise ConfigError(f"unknown profile {name!r}; valid profiles: {choices}") from None

    def target(self, name: str) -> TargetConfig:
        return self.targets.get(name, TargetConfig())


@dataclass(frozen=True)
class Override:
    """A value for one dotted key set outside the file, and where it came from (e.g. "--profile")."""

    value: Any
    origin: str


# The flag that sets each key ``bench`` commands override; an error in the value names the flag.
OVERRIDE_FLAGS = {
    "run.profile": "--profile",
    "run.backend": "--backend",
    "run.out": "--out",
    "gate.thresholds": "--threshold",
    "gate.baseline": "--baseline",
    "generator.workers": "--generator-worker",
}


def load_config(
    path: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    check_cpus: bool = True,
    cpu_keys: tuple[str, ...] = CPU_KEYS,
    available: frozenset[int] | None = None,
) -> Config:
    """Read ``path`` (default: the project's bench.toml), apply dotted ``overrides``, validate.

    ``overrides`` maps dotted keys to values, e.g. ``{"run.profile": "smoke"}``, or to an
    ``Override(value, origin)``; ``None`` values are ignored so CLI options that were not
    given change nothing. A bad overridden value is blamed on its origin: the
    ``Override``'s, else ``OVERRIDE_FLAGS[key]``, else "override KEY". With
    ``check_cpus`` the CPU sets of ``cpu_keys`` (default: all of them) must name only CPUs
    of ``available`` (default: this process's CPUs); commands that start nothing pass
    ``check_cpus=False``, and ``bench run --url`` (no target started) checks only
    ``("generator_cpus",)``.
    """
    source = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {source} not found; pass --config PATH") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    labels: dict[str, str] = {}
    for dotted, given in (overrides or {}).items():
        value, origin = (given.value, given.origin) if isinstance(given, Override) else (
            given, OVERRIDE_FLAGS.get(dotted, f"override {dotted}"))
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        shown = value if isinstance(value, str) else repr(value)
        labels[dotted] = f"{origin} {shown}" if origin.startswith("-") else f"{origin}={shown}"
    config = parse_config(data, origin=str(source), overridden=labels)
    if check_cpus:
        check_machine(config, available, origin=str(source), keys=cpu_keys)
    return config


def parse_config(
    data: dict[str, Any], origin: str = "bench.toml", overridden: dict[str, str] | None = None
) -> Config:
    """Validate a TOML-shaped dict into ``Config``; raise ``ConfigError`` on the first problem.

    Pure: types, units, names, ranges and the rules between values; not this machine's
    CPUs (``check_machine``). ``overridden`` maps dotted keys to the label errors in them
    are blamed on (e.g. ``"--profile nope"``) instead of ``origin``.
    """
    source = Source(origin, overridden or {})
    config = build(Config, data, source, "")
    config = dataclasses.replace(config, profiles={
        name: dataclasses.replace(profile, name=name) for name, profile in config.profiles.items()},
        cpu=_resolve_generator_processes(config.cpu))
    _check_names(config, source)
    _check_profiles(config, source)
    _check_scenario(config, source)
    _check_pairs(config, source)
    _check_generator(config, source)
    return config


def _resolve_generator_processes(cpu: CpuConfig) -> CpuConfig:
    """``generator_processes = 0`` (auto): one Locust process per ``generator_cpus`` core (or one)."""
    cores = len(parse_cpu_list(cpu.generator_cpus)) or 1
    return cpu if cpu.generator_processes else dataclasses.replace(cpu, generator_processes=cores)


def check_machine(config: Config, available: frozenset[int] | None = None,
                  origin: str = "bench.toml", keys: tuple[str, ...] = CPU_KEYS) -> None:
    """Fail unless the [cpu] sets ``keys`` name only CPUs in ``available`` (default: this process's)."""
    for key in keys:
        try:
            check_cpu_list(getattr(config.cpu, key), f"cpu.{key}", available)
        except ConfigError as error:
            raise ConfigError(f"{origin}: {error}") from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved configuration as plain JSON-able data (for results.json)."""
    return dataclasses.asdict(config)


def _check_names(config: Config, source: Source) -> None:
    for name in config.run.targets:
        if name not in TARGET_NAMES:
            raise source.error(
                "run.targets", f"unknown target {name!r}; valid targets: " + ", ".join(TARGET_NAMES)
            )
    for name in config.targets:
        if name not in TARGET_NAMES:
            raise source.error(
                f"[targets.{name}]",
                f"unknown target {name!r}; valid targets: " + ", ".join(TARGET_NAMES),
            )
    for name in config.claims.targets:
        if name not in TARGET_NAMES:
            raise source.error(
                f"[claims.targets.{name}]",
                f"unknown target {name!r}; valid targets: " + ", ".join(TARGET_NAMES),
            )
    if config.run.profile not in config.profiles:
        choices = ", ".join(sorted(config.profiles)) or "(none defined)"
        raise source.error(
            "run.profile", f"unknown profile {config.run.profile!r}; valid profiles: {choices}"
        )
    for key in CPU_KEYS:
        try:
            parse_cpu_list(getattr(config.cpu, key))
        except ConfigError as error:
            raise source.error(f"cpu.{key}", str(error)) from None


def _check_profiles(config: Config, source: Source) -> None:
    for name, profile in config.profiles.items():
        _check_profile(profile, source, f"profiles.{name}")


def _check_profile(profile: Profile, source: Source, where: str) -> None:
    if not profile.stages:
        raise source.error(f"{where}.stages", "a profile needs at least one stage")
    for index, stage in enumerate(profile.stages):
        for key, value, valid in (("users", stage.users, Range(ge=1)),
                                  ("duration", stage.duration, Range(gt=0, unit="s")),
                                  ("spawn_rate", stage.spawn_rate, Range(gt=0))):
            if value not in valid:
                raise source.error(f"{where}.stages[{index}].{key}",
                                   f"{value:g} is out of range; valid range: {valid.describe()}")
    if profile.warmup >= profile.duration:
        raise source.error(
            f"{where}.warmup",
            f"warm-up {profile.warmup:g}s is not shorter than the profile's {profile.duration:g}s "
            f"load, so nothing would be measured; valid range: 0s to under {profile.duration:g}s",
        )
    _check_faults(profile, source, where)


def _check_faults(profile: Profile, source: Source, where: str) -> None:
    """Each fault well-formed, naming an instance some target has, inside the load on every target."""
    for index, spec in enumerate(profile.faults):
        try:
            check_spec(spec, tuple(TOPOLOGIES))
        except FaultPlanError as error:
            raise source.error(f"{where}.faults[{index}].{error.where}", error.problem) from None
        if spec.service.startswith("@"):
            continue
        candidates = [t for t in TOPOLOGIES.values() if not spec.target or t.target == spec.target]
        if not any(spec.service in instances_of(t) for t in candidates):
            known = "; ".join(f"{t.target}: {', '.join(instances_of(t))}" for t in candidates)
            raise source.error(f"{where}.faults[{index}].service",
                               f"no target has an instance {spec.service!r}; instances: {known}; "
                               "or a role selector: @database, @broker, @infra, @services, @all")
    for topology in TOPOLOGIES.values():
        try:
            plan_faults(profile.faults, topology, profile.duration, profile.warmup, skip_unknown=True)
        except FaultPlanError as error:
            raise source.error(f"{where}.{error.where}", error.problem) from None


TASK_WEIGHTS = ("list_products", "view_product", "place_order", "read_order", "login")
_PRODUCT_TASKS = ("list_products", "view_product", "place_order")  # tasks that read the catalog


def _check_scenario(config: Config, source: Source) -> None:
    """Task weights not all 0; seed products and stock wherever the task mix needs them."""
    scenario, seed = config.scenario, config.seed
    weights = {task: getattr(scenario, task) for task in TASK_WEIGHTS}
    if not any(weights.values()):
        raise source.error("scenario", "every task weight is 0 (" + ", ".join(weights)
                           + "), so the simulated users would do nothing; give one a weight >= 1")
    needing = [task for task in _PRODUCT_TASKS if weights[task] > 0]
    if seed.products == 0 and needing:
        raise source.error("seed.products", "0 products, but the task mix reads the catalog ("
                           + ", ".join(needing) + "); valid range: >= 1, or set those weights to 0")
    if seed.stock == 0 and weights["place_order"] > 0:
        raise source.error("seed.stock", "0 units per product, so every order would be refused "
                           "(scenario.place_order > 0); valid range: >= 1, or set place_order = 0")


def _check_pairs(config: Config, source: Source) -> None:
    """Every (low, high) pair in order."""
    seed = config.seed
    if seed.price_cents_min > seed.price_cents_max:
        raise source.error("seed.price_cents_min", f"{seed.price_cents_min} is above "
                           f"seed.price_cents_max = {seed.price_cents_max}; valid range: <= max")
    for name, claim in config.claims.targets.items():
        for key in ("rps", "latency_ms", "monthly_usd"):
            low, high = getattr(claim, key)
            if low > high:
                raise source.error(f"claims.targets.{name}.{key}",
                                   f"[{low:g}, {high:g}] is not (low, high); valid: low <= high")


def generator_hosts(config: Config) -> GeneratorHosts:
    """The generator hosts of ``[generator]`` with ``cpu.generator_processes`` per host."""
    generator = config.generator
    return GeneratorHosts(workers=generator.workers, master_host=generator.master_host,
                          master_port=generator.master_port, processes=config.cpu.generator_processes,
                          connect_timeout_s=generator.connect_timeout)


def _check_generator(config: Config, source: Source) -> None:
    try:
        check_generator_hosts(generator_hosts(config))
    except ConfigError as error:
        raise source.error("generator.workers", str(error).removeprefix("generator.workers: ")) from None
