"""``bench run``: every selected target through up -> seed -> load -> analysis -> integrity.

Each target's result is written to ``<out>/<run-id>/results.json`` (atomically) as soon as
that target finishes, so an aborted run keeps what it measured; ``<out>/latest`` points at
the newest run. Ctrl-C (or SIGTERM) stops the load, tears the target down, records the
partial measurement and re-raises. Reports, cost and claims are filled in when those
modules are present.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from harness.backends import choose_backend, deploy_settings
from harness.backends._stale import owned_temp_directory
from harness.backends.base import DeploySettings
from harness.config import Config, Profile, Stage, config_to_dict
from harness.errors import EXIT_FAILED, EXIT_OK, BenchError, ConfigError
from harness.hostinfo import collect_host
from harness.measure import TargetUnderTest, _Interrupted, measure_target
from harness.registry import get_topology
from harness.results import SCHEMA, Results, ServiceInfo, TargetResult, dump_results, load_results
from harness.seed import wait_healthy
from harness.topology import Topology


def resolve_profile(config: Config, name: str, users: int | None = None,
                    duration: float | None = None) -> Profile:
    """Profile ``name`` with ``--users`` (every stage's users) and ``--duration`` applied.

    A new duration (seconds) scales every stage proportionally; the warm-up is capped at
    half of it so a short override still measures something.
    """
    profile = config.profile(name)
    if users is not None:
        if users < 1:
            raise ConfigError(f"--users must be >= 1 (got {users})")
        profile = dataclasses.replace(
            profile, stages=tuple(dataclasses.replace(s, users=users) for s in profile.stages))
    if duration is not None:
        if duration <= 0:
            raise ConfigError(f"--duration must be > 0 (got {duration})")
        scale = duration / profile.duration
        profile = dataclasses.replace(
            profile,
            stages=tuple(Stage(duration=s.duration * scale, users=s.users, spawn_rate=s.spawn_rate)
                         for s in profile.stages),
            warmup=min(profile.warmup, duration / 2),
        )
    return profile


def check_url(url: str) -> str:
    """``url`` without a trailing slash; refuse anything not on the loopback interface."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "localhost"):
        raise ConfigError(f"--url {url!r}: give http://127.0.0.1:PORT (archbench only drives local services)")
    return url.rstrip("/")


def new_run_id(name: str | None = None) -> str:
    """A sortable run id: UTC time, plus ``name`` when given."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}-{name}" if name else stamp


def _link_latest(out: Path, run_dir: Path) -> None:
    link = out / "latest"
    tmp = out / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _add_cost_and_claims(result: TargetResult, config: Config) -> None:
    try:
        from harness.pricing.cost import cost_for_target
    except ImportError:
        pass
    else:
        result["cost"] = cost_for_target(result, config)
    try:
        from harness.pricing.claims import check_claims
    except ImportError:
        pass
    else:
        result["claims"] = check_claims(result, config)


def _services_of(deployment: object) -> list[ServiceInfo]:
    return [ServiceInfo(name=i.name, role=i.role, cpus=i.cpus, memory_mb=i.memory_mb, workers=i.workers)
            for i in getattr(deployment, "instances", [])]


def run_benchmark(
    config: Config, targets: list[str] | tuple[str, ...] = (), *, backend_name: str | None = None,
    profile: str | None = None, users: int | None = None, duration: float | None = None,
    out: str | Path | None = None, url: str | None = None, name: str | None = None,
    pid: int | None = None, gate: bool = False, admin_user: str | None = None,
    admin_password: str | None = None, console: Console | None = None,
) -> Path:
    """Run the benchmark; return the run directory (its results.json is complete or partial)."""
    console = console or Console(stderr=True)
    profile_name = profile or config.run.profile
    resolved = resolve_profile(config, profile_name, users, duration)
    if gate:  # a bad threshold should fail now, not after minutes of load
        from harness.thresholds import parse_thresholds

        parse_thresholds(config.gate.thresholds)
    backend: object = None
    if url is None:
        names = list(targets) or list(config.run.targets)
        for target in names:
            get_topology(target)
        backend, reason = choose_backend(backend_name or config.run.backend, config)
        console.print(f"backend: {backend.name} — {reason}")
    else:
        if targets:
            raise ConfigError("give either TARGET names or --url, not both")
        url = check_url(url)
        names = [name or (urlsplit(url).netloc.replace(":", "-"))]
        if not admin_user or not admin_password:
            raise ConfigError("--url needs the service's admin credentials: --admin-user and --admin-password "
                              "(or BENCH_ADMIN_USER / BENCH_ADMIN_PASSWORD)")
    out_dir = Path(out or config.run.out)
    run_id = new_run_id(name if url is None else None)
    run_dir = out_dir / run_id
    suffix = 1
    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:  # two runs in the same second
            suffix += 1
            run_id = f"{new_run_id(name if url is None else None)}.{suffix}"
            run_dir = out_dir / run_id
    _link_latest(out_dir, run_dir)
    results = Results(schema=SCHEMA, run_id=run_id, started_at=_now(), finished_at=None,
                      host=collect_host(), config=config_to_dict(config), targets={})
    dump_results(results, run_dir)
    console.print(f"run {run_id}: profile {profile_name} ({resolved.duration:.0f}s load, "
                  f"{resolved.warmup:.0f}s warm-up) -> {run_dir}")
    try:
        for target in names:
            timings: dict[str, float] = {}
            console.rule(target)
            try:
                result = _run_one(config, target, url, pid, admin_user, admin_password, resolved,
                                  profile_name, run_dir, console, timings,
                                  backend)
            except _Interrupted as interrupted:
                results["targets"][target] = interrupted.result
                raise
            result["timings"] = timings
            _add_cost_and_claims(result, config)
            results["targets"][target] = result
            dump_results(results, run_dir)
            _print_outcome(console, result)
    finally:
        results["finished_at"] = _now()
        dump_results(results, run_dir)
        _write_reports(run_dir, console)
    return run_dir


def _run_one(config: Config, target: str, url: str | None, pid: int | None, admin_user: str | None,
             admin_password: str | None, profile: Profile, profile_name: str, run_dir: Path,
             console: Console, timings: dict[str, float], backend: object) -> TargetResult:
    if url is not None:
        wait_healthy(url, config.run.health_timeout)
        under_test = TargetUnderTest(
            name=target, backend="external", url=url, admin_username=str(admin_user),
            admin_password=str(admin_password), pids={target: pid} if pid else {},
        )
        return measure_target(config, under_test, profile_name, profile, run_dir, console, timings)
    topology = get_topology(target)
    # a short work path: PostgreSQL's unix socket path must stay under 108 bytes
    with owned_temp_directory() as workdir:
        settings = deploy_settings(config, target, run_dir.name, workdir)
        return _run_deployed(config, target, backend, topology, settings, profile, profile_name,
                             run_dir, console, timings)


def _run_deployed(config: Config, target: str, backend: object, topology: Topology,
                  settings: DeploySettings, profile: Profile, profile_name: str, run_dir: Path,
                  console: Console, timings: dict[str, float]) -> TargetResult:
    clock = time.monotonic()
    with backend.up(topology, settings) as deployment:  # type: ignore[attr-defined]
        timings["up_s"] = time.monotonic() - clock
        console.print(f"  {target} up at {deployment.url} in {timings['up_s']:.1f}s")
        under_test = TargetUnderTest(
            name=target, backend=str(getattr(backend, "name", "local")), url=deployment.url,
            admin_username=deployment.admin_username, admin_password=deployment.admin_password,
            services=_services_of(deployment), read_resources=deployment.read_resources,
        )
        result = measure_target(config, under_test, profile_name, profile, run_dir, console, timings)
        clock = time.monotonic()  # teardown runs as the block exits
    timings["down_s"] = time.monotonic() - clock
    return result


def _print_outcome(console: Console, result: TargetResult) -> None:
    summary = result["summary"]
    p95 = summary["p95_ms"]
    console.print(
        f"  {result['target']}: {summary['requests']} requests, {summary['rps']:.0f} req/s, "
        f"p95 {'–' if p95 is None else f'{p95:.1f} ms'}, errors {summary['error_rate']:.2%}; "
        f"integrity {'ok' if result['integrity']['ok'] else 'FAILED'} "
        f"({result['integrity']['acknowledged']} orders, {result['integrity']['lost']} lost)"
    )
    for reason in result["integrity"]["reasons"]:
        console.print(f"  [red]integrity: {reason}[/red]")
    for reason in result["valid"]["reasons"]:
        console.print(f"  [yellow]invalid: {reason}[/yellow]")
    if result["generator"]["bound"]:
        console.print(f"  [bold yellow]generator-bound: {result['generator']['reason']}[/bold yellow]")


def _write_reports(run_dir: Path, console: Console) -> None:
    try:
        from harness.report import write_run_reports
    except ImportError:
        return
    try:
        for path in write_run_reports(run_dir):
            console.print(f"report: {path}")
    except BenchError as error:
        console.print(f"[yellow]report not written: {error}[/yellow]")


def run_exit_code(run_dir: Path, config: Config, gate: bool, *, junit: Path | None = None) -> int:
    """0 when every target kept its orders (and the gate passed, with ``gate``), else 1 (or 2).

    ``junit``: with ``gate``, where the gate writes its JUnit XML.
    """
    if gate:
        from harness.gate import gate_run

        return gate_run(run_dir, config, junit=junit)
    results = load_results(run_dir)
    failed = [t for t in results["targets"].values() if not t["integrity"]["ok"]]
    return EXIT_FAILED if failed else EXIT_OK
