"""What this machine offers each backend, and what to do about each gap (``bench doctor``).

Each probe returns ``Finding`` records; ``harness.cli.doctor`` only prints them and
turns blocking findings into exit status 2. A finding is *blocking* when no run can
start until it is fixed: a CPU set naming CPUs this machine lacks, no load generator,
no backend that can run, or a piece missing for the backend ``run.backend`` asks for.
A piece missing for a backend that is not needed (docker absent while ``auto`` falls
back to local) is reported but does not block.

``Finding`` is not ``harness.gate``'s ``Check`` (a measured value against a limit,
pass/fail/error) nor the contract's ``CheckResult`` (one API assertion, ok or not):
it is a probe of the environment with three states and a fix.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Literal

from harness.config import CPU_KEYS, Config
from harness.cpus import available_cpus, check_cpu_list, format_cpu_list
from harness.errors import BenchError, ConfigError

Status = Literal["ok", "warn", "missing"]


@dataclass(frozen=True)
class Finding:
    """One probe: what was checked, its status, what was found, the fix, and whether it blocks."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    blocking: bool = False  # True: no run can start until this is fixed


def docker_checks(config: Config) -> list[Finding]:
    """Engine, infrastructure images, base image and targets image.

    Missing pieces block only when ``run.backend`` is ``docker``.
    """
    from harness.backends._docker_image import image_status
    from harness.backends.docker import ENGINE_ERRORS, SETUP_HINT, _docker_client, _image_present

    needed = config.run.backend == "docker"
    try:
        client = _docker_client(timeout=5)
        version = client.version()
    except ENGINE_ERRORS as error:
        return [Finding("docker engine", "missing", f"no engine answers ({type(error).__name__})",
                        f"install docker.io and start dockerd, or `{SETUP_HINT}`; "
                        "the local backend works without it", blocking=needed)]
    findings = [Finding("docker engine", "ok",
                        f"{version.get('Version', '?')} (API {version.get('ApiVersion', '?')})")]
    docker = config.docker
    for role, image in (("postgres image", docker.postgres_image), ("nats image", docker.nats_image)):
        if _image_present(client, image):
            findings.append(Finding(role, "ok", image))
        else:
            findings.append(Finding(role, "missing", f"{image} not present",
                                    f"docker pull {image} (no registry: `{SETUP_HINT}`)", needed))
    status = image_status(client, docker.image_tag, docker.python_image)
    if status.current:
        findings.append(Finding("targets image", "ok", f"{docker.image_tag} matches the sources"))
    elif status.base_present:
        findings.append(Finding("targets image", "warn", f"{docker.image_tag} missing or stale",
                                "built automatically by the next docker run (needs the package "
                                "registry; about 1-2 min cold, seconds when only sources changed)"))
    else:
        findings.append(Finding("python base image", "missing", f"{docker.python_image} not present",
                                f"docker pull {docker.python_image} (no registry: `{SETUP_HINT}`)",
                                needed))
    return findings


def local_checks(config: Config | None = None) -> list[Finding]:
    """PostgreSQL and NATS binaries for the local backend (blocking when ``run.backend`` is local)."""
    from harness.backends import _local_infra as infra

    needed = config is not None and config.run.backend == "local"
    findings: list[Finding] = []
    try:
        findings.append(Finding("postgresql binaries", "ok", str(infra.find_postgres_bindir())))
    except BenchError as error:
        findings.append(Finding("postgresql binaries", "missing", "initdb/postgres not found",
                                str(error), needed))
    try:
        findings.append(Finding("nats-server binary", "ok", str(infra.find_nats_server())))
    except BenchError as error:
        findings.append(Finding("nats-server binary", "missing", "not found", str(error), needed))
    return findings


def redis_check(config: Config) -> Finding:
    """Where redis-server comes from for the ``*-redis`` targets (blocking only when one is selected
    on the local backend)."""
    from harness.backends import _local_infra as infra

    needed = config.run.backend == "local" and any(t.endswith("-redis") for t in config.run.targets)
    try:
        return Finding("redis-server binary", "ok", infra.redis_source(infra.find_redis_server()))
    except BenchError as error:
        return Finding("redis-server binary", "missing" if needed else "warn", "not found",
                       f"{error} (only the *-redis targets need it)", needed)


def express_check(config: Config) -> Finding:
    """Node.js and the npm dependencies of ``express-monolith`` (blocking only when selected)."""
    from targets.express_monolith.topology import runtime_problem

    needed = "express-monolith" in config.run.targets
    problem = runtime_problem()
    if problem is None:
        return Finding("express-monolith", "ok", "node and its npm dependencies installed")
    detail, fix = problem
    status: Status = "missing" if needed else "warn"
    return Finding("express-monolith", status, detail, f"{fix} (only this target needs it)",
                   blocking=needed)


def kafka_checks(config: Config) -> list[Finding]:
    """Java and the Apache Kafka jars of ``event-driven-kafka`` (blocking only when selected)."""
    from harness.backends import _kafka as kafka

    needed = "event-driven-kafka" in config.run.targets
    status: Status = "missing" if needed else "warn"
    findings: list[Finding] = []
    for name, probe in (("java (kafka)", kafka.find_java), ("kafka jars", kafka.find_kafka_jars)):
        try:
            findings.append(Finding(name, "ok", str(probe())))
        except BenchError as error:
            findings.append(Finding(name, status, "not found",
                                    f"{error} (only event-driven-kafka needs it)", needed))
    return findings


def cpu_checks(config: Config, usable: frozenset[int] | None = None) -> list[Finding]:
    """Cores, the generator/target CPU sets, and the generator's process count.

    ``usable`` is the set of CPUs this process may use (default: its affinity mask). A
    CPU set naming a CPU outside it blocks: ``bench run`` refuses such a config.
    """
    usable = usable if usable is not None else available_cpus()
    cores = format_cpu_list(usable)
    one_core = len(usable) < 2
    findings = [Finding("cores", "warn" if one_core else "ok", f"{len(usable)} usable ({cores})",
                        "one core: generator and target share it, results are pessimistic"
                        if one_core else "")]
    sets: dict[str, frozenset[int]] = {}
    for key in CPU_KEYS:
        text = getattr(config.cpu, key)
        try:
            sets[key] = check_cpu_list(text, f"cpu.{key}", usable)
        except ConfigError as error:
            findings.append(Finding(f"cpu.{key}", "missing", str(error),
                                    f"use CPUs from {cores} in bench.toml [cpu]", blocking=True))
            continue
        findings.append(Finding(f"cpu.{key}", "ok", repr(text) if text else "(no pinning)"))
    overlap = sets.get("generator_cpus", frozenset()) & sets.get("target_cpus", frozenset())
    if overlap:
        findings.append(Finding("cpu sets", "warn",
                                f"generator and target share CPU(s) {format_cpu_list(overlap)}",
                                "give them disjoint sets so load generation does not steal target CPU"))
    findings.append(_generator_check(config, len(sets.get("generator_cpus") or usable)))
    return findings


def _generator_check(config: Config, generator_cores: int) -> Finding:
    processes = config.cpu.generator_processes
    try:
        locust = importlib.metadata.version("locust")
    except importlib.metadata.PackageNotFoundError:
        return Finding("load generator", "missing", "locust not installed", "pip install locust",
                       blocking=True)
    detail = f"locust {locust}, {processes} process(es) on {generator_cores} core(s)"
    if processes > generator_cores:
        return Finding("load generator", "warn", detail,
                       "more processes than generator cores: lower cpu.generator_processes "
                       "or widen cpu.generator_cpus")
    return Finding("load generator", "ok", detail + "; a run saturating it is marked "
                   f"generator-bound (mean CPU > {config.cpu.generator_bound_pct:g}%)")


def backend_check(config: Config) -> Finding:
    """Which backend ``run.backend`` (usually ``auto``) would choose here, and why."""
    from harness.backends import choose_backend

    requested = config.run.backend
    try:
        backend, reason = choose_backend(requested, config)
    except BenchError as error:
        return Finding(f"backend {requested}", "missing", str(error),
                       "fix one of the missing pieces above", blocking=True)
    return Finding(f"backend {requested}", "ok", f"{backend.name}: {reason}")


def limits_check(config: Config) -> Finding:
    """Which CPU and memory limits each backend can enforce on this host ([cpu] limits)."""
    from harness.backends._cgroups import detect

    support = detect()
    local = support.describe()
    detail = f"docker: the engine enforces each container's cpus and memory; local: {local}"
    if support.enforces_cpu and support.enforces_memory:
        return Finding("cpu/memory limits", "ok", detail)
    must = config.cpu.limits == "enforce" and config.run.backend == "local"
    return Finding("cpu/memory limits", "missing" if must else "warn", detail,
                   "run as root on a host with cgroups, or use the docker backend; local runs "
                   "only report each service's budget (bench sweep --cpus needs it enforced)",
                   blocking=must)


def doctor_checks(config: Config) -> list[Finding]:
    """Every finding, in the order they are shown."""
    return [*docker_checks(config), *local_checks(config), redis_check(config), express_check(config),
            *kafka_checks(config),
            *cpu_checks(config), limits_check(config), backend_check(config)]


def blocking(findings: list[Finding]) -> list[Finding]:
    """The findings that keep every run from starting."""
    return [finding for finding in findings if finding.blocking]


def format_checks(findings: list[Finding]) -> str:
    """One line per finding, plus an indented "fix:" line when there is something to do."""
    width = max((len(f.name) for f in findings), default=0)
    lines: list[str] = []
    for finding in findings:
        lines.append(f"{finding.status:<7} {finding.name:<{width}}  {finding.detail}")
        if finding.fix:
            lines.append(f"{'':<7} {'':<{width}}  fix: {finding.fix}")
    return "\n".join(lines)
