"""Cost model: what a measured target would cost to run, from a price table.

Pure functions of one target's results and the configuration (no I/O).

- *Reserved* cost (what is priced): the CPU budget the target actually had, i.e. the
  smaller of its cpuset's cores (``cpu_budget.target_cpus``) and the sum of its
  services' CPU quotas (``cpus``), plus every service's reserved ``memory_mb``
  (database and broker included), times the price per vCPU-hour and per GB-hour.
  A monolith whose app (1.0) and PostgreSQL (1.0) share one pinned core is priced as
  1 vCPU, not 2. Memory is priced in GB of 1024 MiB, as cloud price lists do.
- *Provisioned* cost: the services' declared quotas summed (the old model; kept beside
  the reserved cost so both readings are visible, never used for a verdict).
- *Usage-based* cost: the CPU actually used (mean vCPUs = CPU seconds / measured
  window seconds) and the peak resident memory, at the same prices.
- The *rate* every per-request figure uses (``rate_basis``): the capacity at the SLO
  when the run has a ``bench capacity`` search, else the measured successful
  throughput at the operating point. Cost per million requests is at that rate.
- Replicas (``ceil(target_rps / rate)``) of the whole measured stack, and their
  monthly reserved cost, for each ``cost.target_rps``. This assumes linear scaling of
  everything, database included: an optimistic lower bound.
"""

from __future__ import annotations

import math
from typing import Any

from harness.config import Config
from harness.cpus import parse_cpu_list
from harness.errors import ConfigError
from harness.results import TargetResult

MIB_PER_GB = 1024.0
BYTES_PER_GB = 1024.0**3


def _hourly(vcpus: float, memory_gb: float, vcpu_hour: float, gb_hour: float) -> float:
    """USD per hour for ``vcpus`` vCPUs and ``memory_gb`` GB."""
    return vcpus * vcpu_hour + memory_gb * gb_hour


def successful_rps(target: TargetResult) -> float:
    """Successful requests per second over the measured window (0 when nothing was measured)."""
    summary = target["summary"]
    duration = float(target.get("duration_s") or 0.0)
    if duration <= 0:
        return 0.0
    return max(0, int(summary["requests"]) - int(summary["failures"])) / duration


def slo_text(capacity: Any) -> str:
    """The SLO of a capacity section as people read it: ``p99 < 200ms and error_rate < 1%``."""
    return " and ".join(str(s) for s in (capacity or {}).get("slo") or []) or "the SLO"


def rate_basis(target: TargetResult) -> dict[str, Any]:
    """The request rate per-request costs and replica counts use (requests/s), and what it is.

    Keys: ``rps`` (None when no rate supports a figure), ``at`` ("capacity" or
    "operating point"), ``kind`` (the capacity kind, or "measured"), ``bound``
    ("lower" for "at least" capacities, "upper" for "below the lowest rate tried",
    else ""), ``text`` (one phrase for people).
    """
    capacity: Any = target.get("capacity")
    if not capacity:
        rps = successful_rps(target)
        return {"rps": rps if rps > 0 else None, "at": "operating point", "kind": "measured", "bound": "",
                "text": "measured successful throughput at the operating point (no capacity search)"}
    kind = capacity.get("kind")
    found = capacity.get("capacity_rps")
    slo = slo_text(capacity)
    if kind == "below_lowest" or found is None:
        lowest = capacity.get("high_rps")
        below = f" ({lowest:g}/s)" if isinstance(lowest, (int, float)) else ""
        return {"rps": None, "at": "capacity", "kind": "below_lowest", "bound": "upper",
                "text": f"capacity below the lowest rate tried{below} at {slo}: no rate held the SLO"}
    if kind == "at_least":
        return {"rps": float(found), "at": "capacity", "kind": "at_least", "bound": "lower",
                "text": f"capacity at least {found:g}/s at {slo} (generator-limited: a lower bound, "
                        "so costs per request are upper bounds)"}
    return {"rps": float(found), "at": "capacity", "kind": str(kind), "bound": "",
            "text": f"capacity {found:g}/s at {slo}"}


def cpu_budget(target: TargetResult) -> dict[str, Any]:
    """The CPU the target actually had (vCPUs): the smaller of its cpuset's cores and its quotas.

    Keys: ``declared_vcpus`` (sum of the services' ``cpus``), ``cpuset`` (as recorded),
    ``cpuset_cores`` (None: unpinned or unreadable), ``vcpus`` (the enforced budget,
    what is priced) and ``enforced_by`` ("cpuset" or "quotas").
    """
    declared = sum(float(s["cpus"]) for s in target["services"])
    cpuset = str((target.get("cpu_budget") or {}).get("target_cpus") or "")
    try:
        cores: int | None = len(parse_cpu_list(cpuset)) or None
    except ConfigError:
        cores = None
    if cores is not None and (cores < declared or declared <= 0):
        return {"declared_vcpus": declared, "cpuset": cpuset, "cpuset_cores": cores, "vcpus": float(cores),
                "enforced_by": "cpuset"}
    return {"declared_vcpus": declared, "cpuset": cpuset, "cpuset_cores": cores, "vcpus": declared,
            "enforced_by": "quotas"}


def _per_million(hourly_usd: float, rps: float | None) -> float | None:
    """USD per million requests when serving ``rps`` requests/s at ``hourly_usd`` per hour."""
    if rps is None or rps <= 0:
        return None
    return hourly_usd / (rps * 3600.0) * 1e6


def _priced(vcpus: float, memory_gb: float, config: Config, rps: float | None) -> dict[str, Any]:
    prices = config.prices
    hourly = _hourly(vcpus, memory_gb, prices.vcpu_hour, prices.gb_hour)
    return {"vcpus": vcpus, "memory_gb": memory_gb, "hourly_usd": hourly,
            "monthly_usd": hourly * prices.hours_per_month, "per_million_usd": _per_million(hourly, rps)}


def replicas_for(wanted_rps: float, rate_rps: float | None) -> int | None:
    """Replicas of the measured stack needed for ``wanted_rps`` at ``rate_rps`` each (None: unknown)."""
    if rate_rps is None or rate_rps <= 0:
        return None
    return max(1, math.ceil(wanted_rps / rate_rps))


def _usage(target: TargetResult, config: Config, names: set[str], rps: float | None) -> dict[str, Any] | None:
    measured = (target.get("resources") or {}).get("services") or []
    measured = [s for s in measured if s.get("name") in names]  # not the load generator
    duration = float(target.get("duration_s") or 0.0)
    if not measured or duration <= 0:
        return None
    used_vcpus = sum(float(s["cpu_seconds"]) for s in measured) / duration
    peak_gb = sum(int(s["rss_peak_bytes"]) for s in measured) / BYTES_PER_GB
    return _priced(used_vcpus, peak_gb, config, rps)


def cost_for_target(target: TargetResult, config: Config) -> dict[str, Any]:
    """The cost model of one measured target, as JSON-able data (all money in USD).

    Keys: ``inputs`` (price table echoed), ``services`` (per-service declared cost),
    ``budget`` (``cpu_budget``), ``reserved`` (priced at the enforced budget),
    ``provisioned`` (priced at the declared quotas) and ``usage`` (priced at what was
    used; None without resource readings), each {vcpus, memory_gb, hourly_usd,
    monthly_usd, per_million_usd}; ``successful_rps`` (measured, requests/s),
    ``rate_basis`` / ``rate_rps`` (the rate per-request figures use, see
    ``rate_basis``), ``scaling`` (one row per ``cost.target_rps``, at the reserved cost).
    """
    prices = config.prices
    hours = prices.hours_per_month
    services: list[dict[str, Any]] = []
    for service in target["services"]:
        cpus = float(service["cpus"])
        memory_gb = float(service["memory_mb"]) / MIB_PER_GB
        hourly = _hourly(cpus, memory_gb, prices.vcpu_hour, prices.gb_hour)
        services.append({"name": service["name"], "role": service["role"], "cpus": cpus,
                         "memory_gb": memory_gb, "hourly_usd": hourly, "monthly_usd": hourly * hours})
    memory_gb = sum(s["memory_gb"] for s in services)
    basis = rate_basis(target)
    rate = basis["rps"]
    budget = cpu_budget(target)
    reserved = _priced(budget["vcpus"], memory_gb, config, rate)
    scaling = []
    for wanted in config.cost.target_rps:
        replicas = replicas_for(float(wanted), rate)
        scaling.append({"target_rps": float(wanted), "replicas": replicas,
                        "monthly_usd": None if replicas is None else replicas * reserved["monthly_usd"]})
    return {
        "inputs": {
            "source": prices.source,
            "date": prices.date,
            "vcpu_hour_usd": prices.vcpu_hour,
            "gb_hour_usd": prices.gb_hour,
            "hours_per_month": hours,
            "duration_s": float(target.get("duration_s") or 0.0),
            "cpu_budget": dict(target.get("cpu_budget") or {}),
            "assumption": "replicas scale the whole measured stack linearly, database included",
        },
        "services": services,
        "budget": budget,
        "reserved": reserved,
        "provisioned": _priced(budget["declared_vcpus"], memory_gb, config, rate),
        "usage": _usage(target, config, {s["name"] for s in services}, rate),
        "successful_rps": successful_rps(target),
        "rate_rps": rate,
        "rate_basis": basis,
        "scaling": scaling,
    }
