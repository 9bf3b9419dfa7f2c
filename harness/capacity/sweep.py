"""``bench sweep``: capacity as the CPU budget and the replicas of a service grow.

A point is a target with a total CPU budget (vCPUs, split over its instances by their
declared shares) and/or a replica count for one service. Each point is a capacity
search (``runner.measure_capacity``) on a deployment whose limits are enforced
(``cpu.limits = "enforce"``), recorded in results.json under the label
``"<target> @ <cpus> vCPU[, <service>×<n>]"`` with its ``sweep_point``. The plan is pure:
points that do not fit this machine (more vCPUs than the target cores, less than the
instances need to start) are skipped with the reason; nothing is extrapolated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends._cgroups import detect
from harness.backends.local import LocalBackend
from harness.capacity.runner import measure_capacity
from harness.config import Config, ServiceOverride, TargetConfig
from harness.context import RunContext
from harness.cpus import format_cpu_list, parse_cpu_list
from harness.errors import ConfigError
from harness.registry import get_topology
from harness.results import Results
from harness.run import Job, run_benchmark
from harness.topology import Topology

MIN_INSTANCE_CPUS = 0.05  # vCPUs below which an instance cannot even start in time


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: a target, its total vCPUs (None: as declared) and replicas."""

    target: str
    cpus: float | None = None
    replicas: tuple[tuple[str, int], ...] = ()  # (service, count)

    @property
    def label(self) -> str:
        parts = [f"{self.cpus:g} vCPU"] if self.cpus is not None else []
        parts += [f"{service}×{count}" for service, count in self.replicas]
        return f"{self.target} @ {', '.join(parts)}" if parts else self.target


def parse_replicas(texts: tuple[str, ...]) -> dict[str, list[int]]:
    """``("catalog=1,2,3",)`` -> ``{"catalog": [1, 2, 3]}``; ConfigError naming the bad value."""
    grid: dict[str, list[int]] = {}
    for text in texts:
        service, sep, counts = text.partition("=")
        try:
            values = [int(c) for c in counts.split(",") if c.strip()]
        except ValueError:
            values = []
        if not sep or not service.strip() or not values or min(values) < 1:
            raise ConfigError(f"--replicas {text!r}: give SERVICE=N[,N...] with every N >= 1, "
                              "e.g. --replicas catalog=1,2,3")
        grid[service.strip()] = values
    return grid


def split_budget(topology: Topology, cpus: float, replicas: dict[str, int]) -> dict[str, float]:
    """vCPUs per replica of each service and per infrastructure piece, summing to ``cpus``.

    Shares are the declared ``cpus`` of each instance (a service with N replicas counts N
    times), so the split keeps the topology's proportions.
    """
    shares = {spec.name: spec.cpus * replicas.get(spec.name, spec.replicas) for spec in topology.services}
    shares.update({infra.name: infra.cpus for infra in topology.infra})
    total = sum(shares.values())
    return {name: round(cpus * share / total / max(1, replicas.get(name, 1)), 4)
            for name, share in shares.items()}


def plan_sweep(topologies: list[Topology], budgets: list[float], replica_grid: dict[str, list[int]],
               target_cores: int) -> tuple[list[SweepPoint], list[str]]:
    """Points to run, and why others were skipped (pure).

    Every target gets every budget crossed with every replica count of the services it
    has. A budget above ``target_cores`` does not fit (the generator keeps its own
    cores); one below MIN_INSTANCE_CPUS per instance would not start.
    """
    points: list[SweepPoint] = []
    skipped: list[str] = []
    for topology in topologies:
        names = {s.name for s in topology.services}
        grids = [[(service, n) for n in counts] for service, counts in replica_grid.items() if service in names]
        combos: list[tuple[tuple[str, int], ...]] = [()]
        for grid in grids:
            combos = [(*combo, choice) for combo in combos for choice in grid]
        for combo in combos:
            instances = sum(dict(combo).get(s.name, s.replicas) for s in topology.services) + len(topology.infra)
            for cpus in budgets or [None]:  # type: ignore[list-item]
                point = SweepPoint(topology.target, cpus, combo)
                if cpus is not None and cpus > target_cores:
                    skipped.append(f"{point.label}: {cpus:g} vCPU > the {target_cores} core(s) of "
                                   "cpu.target_cpus (the generator keeps its own)")
                elif cpus is not None and cpus < MIN_INSTANCE_CPUS * instances:
                    skipped.append(f"{point.label}: {cpus:g} vCPU < {MIN_INSTANCE_CPUS:g} for each of "
                                   f"its {instances} instances")
                else:
                    points.append(point)
    return points, skipped


def check_grid(topologies: list[Topology], budgets: list[float], replica_grid: dict[str, list[int]]) -> None:
    """ConfigError for a budget <= 0 or a replicas service no selected target has."""
    for cpus in budgets:
        if cpus <= 0:
            raise ConfigError(f"--cpus {cpus:g}: a budget is a positive number of vCPUs, e.g. --cpus 0.5,1")
    known = sorted({s.name for t in topologies for s in t.services})
    for service in replica_grid:
        if service not in known:
            raise ConfigError(f"--replicas {service}=...: no selected target has a service {service!r}; "
                              f"services: {', '.join(known)}")


def point_job(config: Config, topology: Topology, point: SweepPoint) -> Job:
    """The run job of one point: the config with its per-instance vCPUs and replicas, enforced."""
    replicas = dict(point.replicas)
    target_config = config.target(point.target)
    services = dict(target_config.services)
    shares = split_budget(topology, point.cpus, replicas) if point.cpus is not None else {}
    for name in {*shares, *replicas}:
        override = services.get(name, ServiceOverride())
        services[name] = dataclasses.replace(override, cpus=shares.get(name, override.cpus),
                                             replicas=replicas.get(name, override.replicas))
    job_config = dataclasses.replace(
        config, cpu=dataclasses.replace(config.cpu, limits="enforce"),
        targets={**config.targets, point.target: TargetConfig(workers=target_config.workers, services=services)},
    )
    recorded: dict[str, Any] = {"target": point.target, "cpus": point.cpus, "replicas": replicas,
                                "cpuset": format_cpu_list(parse_cpu_list(config.cpu.target_cpus)),
                                "instance_cpus": shares}
    return Job(point.label, point.target, job_config, recorded)


def sweep_table(results: Results) -> list[dict[str, Any]]:
    """One row per sweep point (pure): capacity, what limited it, efficiency and $ per million."""
    rows = []
    for label, target in results["targets"].items():
        point = target.get("sweep_point")
        capacity = target.get("capacity")
        if point is None or capacity is None:
            continue
        cpus = point.get("cpus") or sum(s["cpus"] for s in target["services"])
        value = capacity["capacity_rps"]
        reserved = (target.get("cost") or {}).get("reserved") or {}
        rows.append({
            "label": label, "target": point["target"], "cpus": cpus, "replicas": point.get("replicas", {}),
            "capacity_rps": value, "kind": capacity["kind"], "description": capacity["description"],
            "generator_limited": capacity["generator_limited"], "limited_by": capacity["limited_by"],
            "efficiency_rps_per_vcpu": value / cpus if value and cpus else None,
            "usd_per_million": reserved.get("per_million_usd"),
        })
    return rows


def run_sweep(context: RunContext, budgets: list[float], replica_grid: dict[str, list[int]]) -> Path:
    """Plan the sweep, refuse what cannot run (before anything starts), run every point."""
    config = context.config
    topologies = {name: get_topology(name) for name in context.targets}
    check_grid(list(topologies.values()), budgets, replica_grid)
    cores = len(parse_cpu_list(config.cpu.target_cpus))
    points, skipped = plan_sweep(list(topologies.values()), budgets, replica_grid, cores)
    for reason in skipped:
        context.console.print(f"[yellow]skipped: {reason}[/yellow]")
    if not points:
        raise ConfigError(f"no sweep point fits this machine: valid budgets are "
                          f"{MIN_INSTANCE_CPUS:g} x instances up to {cores} vCPU (cpu.target_cpus = "
                          f"{config.cpu.target_cpus!r}); skipped: " + "; ".join(skipped))
    backend = context.backend
    if isinstance(backend, LocalBackend) and budgets:
        support = detect()
        if not (support.enforces_cpu and support.enforces_memory):
            raise ConfigError(f"bench sweep --cpus needs enforced CPU budgets, which the local backend "
                              f"cannot give here ({support.describe()}); use --backend docker")
    context.console.print(f"sweep: {len(points)} point(s): " + ", ".join(p.label for p in points))
    jobs = [point_job(config, topologies[p.target], p) for p in points]
    return run_benchmark(context, measure=measure_capacity, jobs=jobs)
