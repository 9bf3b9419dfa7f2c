"""Fault schedules as profile data: what a ``faults = [...]`` entry means, expanded per target (pure).

A profile may carry a fault schedule; each entry is a ``FaultSpec``::

    faults = [
      { at = "20s", action = "kill", service = "catalog" },
      { at = "40s", action = "pause", service = "@database", duration = "3s" },
      { at = "10s", every = "12s", action = "kill", service = "@all" },
    ]

``service`` names one instance of a target (a service or an infrastructure piece, e.g.
``catalog`` or ``postgres``) or a *role selector* that each target expands to its own
instances, in this order:

- ``@database``  every PostgreSQL server (monolith: postgres; microservices: users-db,
  catalog-db, orders-db)
- ``@broker``    the message broker where there is one (event-driven: nats; else none)
- ``@infra``     every infrastructure piece (databases first, then the broker, then caches: redis)
- ``@services``  every service of the target, in declaration order
- ``@all``       ``@infra``, then ``@services``

A selector that matches several instances hits them in turn, ``every`` seconds apart
(the first at ``at``), so one profile takes down, on each target, the database, the
broker and each service. ``target`` limits an entry to one target. Actions: ``kill``
(SIGKILL / container kill; the restart policy, ``[run] restart``, brings it back),
``pause`` (SIGSTOP / container pause for ``duration``, then resumed), ``restart``
(graceful stop, then start).

Times are seconds since the load started. Every fault must fall inside the profile's
load, after its warm-up plus ``MIN_BASELINE_S`` (the seconds before the first fault are
the pre-fault band recovery is measured against), and a pause must end before the next
fault on that target. ``plan_faults`` checks all of this for one target and returns the
``PlannedFault`` list the scheduler runs (``harness.faults_run``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness._config_schema import unit_field
from harness.topology import Topology

FaultAction = Literal["kill", "pause", "restart"]
ACTIONS: tuple[str, ...] = ("kill", "pause", "restart")
SELECTORS: tuple[str, ...] = ("@database", "@broker", "@infra", "@services", "@all")
BROKER_KINDS = ("nats", "kafka")
MIN_BASELINE_S = 3.0  # seconds of healthy load between the warm-up and the first fault


@dataclass(frozen=True)
class FaultSpec:
    """One entry of a profile's ``faults`` list, as written (times in seconds)."""

    action: FaultAction = "kill"
    service: str = ""  # an instance name or a role selector (SELECTORS)
    at: float | None = unit_field("duration", None, ge=0)  # since load start
    duration: float | None = unit_field("duration", None, gt=0)  # pause only: how long frozen
    every: float = unit_field("duration", 10.0, gt=0)  # between the instances a selector expands to
    target: str = ""  # only this target ("" = every target that has the instance)


@dataclass(frozen=True)
class PlannedFault:
    """One fault on one instance of one target, at a planned time (seconds since load start)."""

    index: int  # position of its FaultSpec in the profile's list
    action: FaultAction
    instance: str
    at_s: float
    duration_s: float | None = None  # pause only

    @property
    def label(self) -> str:
        """How reports name it, e.g. "kill catalog" or "pause postgres 2s"."""
        return f"{self.action} {self.instance}" + (f" {self.duration_s:g}s" if self.duration_s else "")


class FaultPlanError(ValueError):
    """A fault schedule that cannot run on a target; ``where`` is the key, the message says why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


def instances_of(topology: Topology) -> list[str]:
    """Every instance name of ``topology``: infrastructure first, then services."""
    return [spec.name for spec in topology.infra] + [spec.name for spec in topology.services]


def expand_selector(selector: str, topology: Topology) -> list[str]:
    """The instances ``selector`` (a role or an instance name) means on ``topology``, in order.

    FaultPlanError for an unknown selector or an instance ``topology`` does not have.
    """
    databases = [spec.name for spec in topology.infra if spec.kind == "postgres"]
    brokers = [spec.name for spec in topology.infra if spec.kind in BROKER_KINDS]
    others = [spec.name for spec in topology.infra if spec.name not in {*databases, *brokers}]  # caches
    services = [spec.name for spec in topology.services]
    infra = databases + brokers + others
    roles = {"@database": databases, "@broker": brokers, "@infra": infra,
             "@services": services, "@all": infra + services}
    if selector in roles:
        return roles[selector]
    if selector.startswith("@"):
        raise FaultPlanError("service", f"unknown role selector {selector!r}; valid selectors: "
                             + ", ".join(SELECTORS))
    if selector not in instances_of(topology):
        raise FaultPlanError("service", f"{topology.target} has no instance {selector!r}; its instances: "
                             + ", ".join(instances_of(topology)) + "; or a selector: " + ", ".join(SELECTORS))
    return [selector]


def check_spec(spec: FaultSpec, targets: Sequence[str]) -> None:
    """Rules of one entry that need no topology (FaultPlanError naming the key)."""
    if spec.at is None:
        raise FaultPlanError("at", "every fault needs `at`, its time since the load started (e.g. \"20s\")")
    if not spec.service:
        raise FaultPlanError("service", "every fault needs `service`: an instance name or one of "
                             + ", ".join(SELECTORS))
    if spec.action == "pause" and spec.duration is None:
        raise FaultPlanError("duration", "a pause needs `duration`, how long the instance stays frozen "
                             "(e.g. \"3s\")")
    if spec.action != "pause" and spec.duration is not None:
        raise FaultPlanError("duration", f"`duration` applies to pause only, not {spec.action} (a killed "
                             "instance comes back by the restart policy, [run] restart_delay)")
    if spec.target and spec.target not in targets:
        raise FaultPlanError("target", f"unknown target {spec.target!r}; valid targets: " + ", ".join(targets))


def applies_to(spec: FaultSpec, topology: Topology) -> bool:
    """Whether ``spec`` acts on ``topology``'s target (its ``target`` key, when set)."""
    return not spec.target or spec.target == topology.target


def plan_faults(specs: Sequence[FaultSpec], topology: Topology, duration_s: float,
                warmup_s: float, *, skip_unknown: bool = False) -> list[PlannedFault]:
    """The faults ``specs`` inject into ``topology``'s target, in time order (pure).

    ``duration_s`` is the profile's load and ``warmup_s`` its warm-up, in seconds.
    FaultPlanError (``where`` like ``faults[1].at``) when an entry names an instance the
    target lacks (``skip_unknown``: leave that entry out instead, as the config check does
    for a name only other targets have), falls outside the load, before the pre-fault band,
    or overlaps a pause.
    """
    planned: list[PlannedFault] = []
    for index, spec in enumerate(specs):
        if not applies_to(spec, topology):
            continue
        if skip_unknown and not spec.service.startswith("@") and spec.service not in instances_of(topology):
            continue
        try:
            names = expand_selector(spec.service, topology)
        except FaultPlanError as error:
            raise FaultPlanError(f"faults[{index}].{error.where}", error.problem) from None
        at = float(spec.at or 0.0)
        planned += [PlannedFault(index, spec.action, name, at + turn * spec.every, spec.duration)
                    for turn, name in enumerate(names)]
    planned.sort(key=lambda fault: fault.at_s)
    _check_times(planned, topology.target, duration_s, warmup_s)
    return planned


def _check_times(planned: list[PlannedFault], target: str, duration_s: float, warmup_s: float) -> None:
    earliest = warmup_s + MIN_BASELINE_S
    for position, fault in enumerate(planned):
        where = f"faults[{fault.index}].at"
        if fault.at_s < earliest:
            raise FaultPlanError(where, f"{fault.label} on {target} at {fault.at_s:g}s comes before "
                                 f"{earliest:g}s (warm-up {warmup_s:g}s + {MIN_BASELINE_S:g}s of healthy load "
                                 "that recovery is measured against); valid: at >= " f"{earliest:g}s")
        end = fault.at_s + (fault.duration_s or 0.0)
        if end >= duration_s:
            raise FaultPlanError(where, f"{fault.label} on {target} at {fault.at_s:g}s "
                                 f"{'ends' if fault.duration_s else 'comes'} at or after the end of the "
                                 f"profile's {duration_s:g}s load; valid: before {duration_s:g}s (lengthen "
                                 "the stages, or move the fault earlier / shorten `every`)")
        following = planned[position + 1] if position + 1 < len(planned) else None
        if fault.duration_s and following is not None and following.at_s < end:
            raise FaultPlanError(where, f"{fault.label} on {target} lasts until {end:g}s, past the next "
                                 f"fault ({following.label} at {following.at_s:g}s); valid: one fault at a time")
