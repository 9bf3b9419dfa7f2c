"""``bench calibrate``: measure the load generator's own ceiling on this host and cache it."""

from __future__ import annotations

import datetime
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import click

from harness.calibration import CACHE_ENV, GeneratorCeiling, cache_path, host_key, store_ceiling
from harness.cli import cli
from harness.cli.options import CONFIG_OPTION
from harness.config import Config, load_config
from harness.cpus import parse_cpu_list
from harness.errors import BenchError

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "generator_ceiling.py"


def _benchmark() -> ModuleType:
    """``benchmarks/generator_ceiling.py`` (a script of the source tree, not of the package)."""
    spec = importlib.util.spec_from_file_location("generator_ceiling", BENCHMARK)
    if spec is None or spec.loader is None or not BENCHMARK.exists():
        raise BenchError(f"bench calibrate needs {BENCHMARK} (run it from an archbench source checkout)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def calibrate(config: Config, *, rounds: int, seconds: float, users: int, path: Path) -> GeneratorCeiling:
    """Measure the ceiling (the first core of cpu.generator_cpus / target_cpus) and store it at ``path``."""
    generator = sorted(parse_cpu_list(config.cpu.generator_cpus))
    target = sorted(parse_cpu_list(config.cpu.target_cpus) - set(generator))
    if not generator or not target:
        raise BenchError(f"bench calibrate needs a generator core and a different target core: "
                         f"cpu.generator_cpus = {config.cpu.generator_cpus!r}, "
                         f"cpu.target_cpus = {config.cpu.target_cpus!r}")
    module = _benchmark()
    click.echo(f"generator ceiling: generator on cpu {generator[0]}, trivial target on cpu {target[0]}, "
               f"{rounds} alternating rounds of {seconds:g}s")
    figures = module.measure_rounds(module.VARIANTS, generator_cpu=generator[0], target_cpu=target[0],
                                    rounds=rounds, users=users, seconds=seconds, echo=click.echo)
    ceiling = GeneratorCeiling(
        per_core_rps=module.median_of(figures["shopper"], "per_core"),
        bare_per_core_rps=module.median_of(figures["bare"], "per_core"), rounds=rounds,
        measured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    store_ceiling(path, host_key(config.cpu.generator_cpus), ceiling)
    return ceiling


@cli.command("calibrate")
@click.option("--rounds", type=click.IntRange(min=1), default=3, envvar="BENCH_CALIBRATE_ROUNDS",
              help="Alternating rounds (shopper, bare FastHttpUser).  [env: BENCH_CALIBRATE_ROUNDS]")
@click.option("--seconds", type=click.FloatRange(min=1), default=8.0, envvar="BENCH_CALIBRATE_SECONDS",
              help="Measured seconds per run.  [env: BENCH_CALIBRATE_SECONDS]")
@click.option("--users", type=click.IntRange(min=1), default=20, envvar="BENCH_CALIBRATE_USERS",
              help="Locust users per run.  [env: BENCH_CALIBRATE_USERS]")
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar=CACHE_ENV, help=f"Cache file (default: {cache_path()}).  [env: {CACHE_ENV}]")
@CONFIG_OPTION
def calibrate_command(rounds: int, seconds: float, users: int, cache: Path | None,
                      config_path: str | None) -> None:
    """Measure requests/s per generator core against a trivial endpoint; cache it for this host.

    `bench capacity` with capacity.max_rate = 0 then caps its search at that ceiling (times
    the generator cores it may use). The cache is keyed by CPU model, Locust version and
    cpu.generator_cpus. Takes about rounds x 2 x (seconds + 5) seconds.
    """
    if not hasattr(os, "sched_setaffinity"):
        raise BenchError("bench calibrate pins processes to cores: needs Linux (sched_setaffinity)")
    config = load_config(config_path)
    path = cache or cache_path()
    ceiling = calibrate(config, rounds=rounds, seconds=seconds, users=users, path=path)
    ratio = ceiling.per_core_rps / ceiling.bare_per_core_rps if ceiling.bare_per_core_rps else 0.0
    click.echo(f"generator ceiling: {ceiling.per_core_rps:,.0f} req/s per core (archbench shopper + hook; "
               f"a bare FastHttpUser: {ceiling.bare_per_core_rps:,.0f}, ratio {ratio:.2f}x) -> {path}")
