"""``bench doctor``: what this machine offers each backend, and what to do about each gap."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from typing import Any, Literal

import click

from harness.cli import cli
from harness.config import Config, load_config
from harness.errors import BenchError

Status = Literal["ok", "warn", "missing"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its status, what was found, and the fix when not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def docker_checks(config: Config) -> list[Check]:
    """Engine, infrastructure images, base image and targets image."""
    from harness.backends._docker_image import image_status
    from harness.backends.docker import ENGINE_ERRORS, SETUP_HINT, _docker_client, _image_present

    try:
        client = _docker_client(timeout=5)
        version = client.version()
    except ENGINE_ERRORS as error:
        return [Check("docker engine", "missing", f"no engine answers ({type(error).__name__})",
                      f"install docker.io and start dockerd, or `{SETUP_HINT}`; "
                      "the local backend works without it")]  # fmt: skip
    checks = [
        Check(
            "docker engine",
            "ok",
            f"{version.get('Version', '?')} (API {version.get('ApiVersion', '?')})",
        )
    ]
    docker = config.docker
    for role, image in (
        ("postgres image", docker.postgres_image),
        ("nats image", docker.nats_image),
    ):
        if _image_present(client, image):
            checks.append(Check(role, "ok", image))
        else:
            checks.append(Check(role, "missing", f"{image} not present",
                                f"docker pull {image} (no registry: `{SETUP_HINT}`)"))  # fmt: skip
    status = image_status(client, docker.image_tag, docker.python_image)
    if status.current:
        checks.append(Check("targets image", "ok", f"{docker.image_tag} matches the sources"))
    elif status.base_present:
        checks.append(Check("targets image", "warn", f"{docker.image_tag} missing or stale",
                            "built automatically by the next docker run (needs the package "
                            "registry; about 1-2 min cold, seconds when only sources changed)"))  # fmt: skip
    else:
        checks.append(Check("python base image", "missing", f"{docker.python_image} not present",
                            f"docker pull {docker.python_image} (no registry: `{SETUP_HINT}`)"))  # fmt: skip
    return checks


def local_checks() -> list[Check]:
    """PostgreSQL and NATS binaries for the local backend."""
    from harness.backends import _local_infra as infra

    checks: list[Check] = []
    try:
        checks.append(Check("postgresql binaries", "ok", str(infra.find_postgres_bindir())))
    except BenchError as error:
        checks.append(
            Check("postgresql binaries", "missing", "initdb/postgres not found", str(error))
        )
    try:
        checks.append(Check("nats-server binary", "ok", str(infra.find_nats_server())))
    except BenchError as error:
        checks.append(Check("nats-server binary", "missing", "not found", str(error)))
    return checks


def cpu_checks(config: Config, usable: frozenset[int] | None = None) -> list[Check]:
    """Cores, the generator/target CPU sets, and the generator's process count."""
    from harness.backends._process import parse_cpuset

    usable = usable if usable is not None else frozenset(os.sched_getaffinity(0))
    cores = ",".join(str(c) for c in sorted(usable))
    checks = [Check("cores", "ok" if len(usable) >= 2 else "warn", f"{len(usable)} usable ({cores})",
                    "" if len(usable) >= 2 else
                    "one core: generator and target share it, results are pessimistic")]  # fmt: skip
    sets: dict[str, frozenset[int]] = {}
    for key in ("generator_cpus", "target_cpus"):
        text = getattr(config.cpu, key)
        try:
            sets[key] = parse_cpuset(text)
        except BenchError as error:
            checks.append(Check(f"cpu.{key}", "missing", str(error), "fix it in bench.toml [cpu]"))
            continue
        absent = sorted(sets[key] - usable)
        if absent:
            checks.append(Check(f"cpu.{key}", "missing", f"{text!r} names CPU(s) {absent} not offered",
                                f"use CPUs from {cores} in bench.toml [cpu]"))  # fmt: skip
        else:
            checks.append(Check(f"cpu.{key}", "ok", repr(text) if text else "(no pinning)"))
    overlap = sets.get("generator_cpus", frozenset()) & sets.get("target_cpus", frozenset())
    if overlap:
        checks.append(Check("cpu sets", "warn", f"generator and target share CPU(s) {sorted(overlap)}",
                            "give them disjoint sets so load generation does not steal target CPU"))  # fmt: skip
    generator_cores = len(sets.get("generator_cpus") or usable)
    processes = config.cpu.generator_processes
    try:
        locust = importlib.metadata.version("locust")
    except importlib.metadata.PackageNotFoundError:
        checks.append(
            Check("load generator", "missing", "locust not installed", "pip install locust")
        )
        return checks
    detail = f"locust {locust}, {processes} process(es) on {generator_cores} core(s)"
    if processes > generator_cores:
        checks.append(Check("load generator", "warn", detail,
                            "more processes than generator cores: lower cpu.generator_processes "
                            "or widen cpu.generator_cpus"))  # fmt: skip
    else:
        checks.append(Check("load generator", "ok", detail + "; a run saturating it is marked "
                            f"generator-bound (mean CPU > {config.cpu.generator_bound_pct:g}%)"))  # fmt: skip
    return checks


def backend_check(config: Config) -> Check:
    """Which backend ``--backend auto`` would choose here, and why."""
    from harness.backends import choose_backend

    try:
        backend, reason = choose_backend("auto", config)
    except BenchError as error:
        return Check("backend auto", "missing", str(error), "fix one of the missing pieces above")
    return Check("backend auto", "ok", f"{backend.name}: {reason}")


def doctor_checks(config: Config) -> list[Check]:
    """Every check, in the order they are shown."""
    return [*docker_checks(config), *local_checks(), *cpu_checks(config), backend_check(config)]


def format_checks(checks: list[Check]) -> str:
    """One line per check, plus an indented "fix:" line when there is something to do."""
    width = max((len(c.name) for c in checks), default=0)
    lines: list[str] = []
    for check in checks:
        lines.append(f"{check.status:<7} {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<7} {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines)


@cli.command("doctor")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="BENCH_CONFIG",
              help="bench.toml to read (default: the project's).")  # fmt: skip
def doctor_command(config_path: str | None) -> None:
    """Report what is available (engine, images, binaries, cores, generator) and how to fix gaps.

    Exit status 2 when no backend can run here.
    """
    config = load_config(config_path)
    checks: list[Any] = doctor_checks(config)
    click.echo(format_checks(checks))
    if checks[-1].status != "ok":
        raise BenchError("no backend can run here (see the fixes above)")
