"""Cost model: what a measured target would cost to run, from a price table.

Pure functions of one target's results and the configuration (no I/O).

- *Provisioned* cost: every service's reserved ``cpus`` and ``memory_mb``
  (database and broker included) times the price per vCPU-hour and per GB-hour.
  Memory is priced in GB of 1024 MiB, as cloud price lists do.
- *Usage-based* cost: the CPU actually used (mean vCPUs = CPU seconds / measured
  window seconds) and the peak resident memory, at the same prices.
- Cost per million successful requests at the measured throughput.
- Replicas (``ceil(target_rps / measured successful rps)``) of the whole measured
  stack, and their monthly cost, for each ``cost.target_rps``. This assumes linear
  scaling of everything, database included: an optimistic lower bound.
"""

from __future__ import annotations

import math
from typing import Any

from harness.config import Config
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


def _per_million(hourly_usd: float, rps: float) -> float | None:
    """USD per million requests when serving ``rps`` requests/s at ``hourly_usd`` per hour."""
    if rps <= 0:
        return None
    return hourly_usd / (rps * 3600.0) * 1e6


def cost_for_target(target: TargetResult, config: Config) -> dict[str, Any]:
    """The cost model of one measured target, as JSON-able data (all money in USD).

    Keys: ``inputs`` (price table echoed), ``services`` (per-service provisioned
    cost), ``provisioned`` and ``usage`` ({vcpus, memory_gb, hourly_usd,
    monthly_usd, per_million_usd}; ``usage`` is None without resource readings),
    ``successful_rps`` (requests/s), ``scaling`` (one row per ``cost.target_rps``).
    """
    prices = config.prices
    hours = prices.hours_per_month
    services: list[dict[str, Any]] = []
    for service in target["services"]:
        cpus = float(service["cpus"])
        memory_gb = float(service["memory_mb"]) / MIB_PER_GB
        hourly = _hourly(cpus, memory_gb, prices.vcpu_hour, prices.gb_hour)
        services.append(
            {
                "name": service["name"],
                "role": service["role"],
                "cpus": cpus,
                "memory_gb": memory_gb,
                "hourly_usd": hourly,
                "monthly_usd": hourly * hours,
            }
        )
    vcpus = sum(s["cpus"] for s in services)
    memory_gb = sum(s["memory_gb"] for s in services)
    hourly = _hourly(vcpus, memory_gb, prices.vcpu_hour, prices.gb_hour)
    rps = successful_rps(target)
    provisioned = {
        "vcpus": vcpus,
        "memory_gb": memory_gb,
        "hourly_usd": hourly,
        "monthly_usd": hourly * hours,
        "per_million_usd": _per_million(hourly, rps),
    }

    usage: dict[str, Any] | None = None
    measured = (target.get("resources") or {}).get("services") or []
    provisioned_names = {s["name"] for s in services}
    measured = [s for s in measured if s.get("name") in provisioned_names]  # not the load generator
    duration = float(target.get("duration_s") or 0.0)
    if measured and duration > 0:
        used_vcpus = sum(float(s["cpu_seconds"]) for s in measured) / duration
        peak_gb = sum(int(s["rss_peak_bytes"]) for s in measured) / BYTES_PER_GB
        used_hourly = _hourly(used_vcpus, peak_gb, prices.vcpu_hour, prices.gb_hour)
        usage = {
            "vcpus": used_vcpus,
            "memory_gb": peak_gb,
            "hourly_usd": used_hourly,
            "monthly_usd": used_hourly * hours,
            "per_million_usd": _per_million(used_hourly, rps),
        }

    scaling: list[dict[str, Any]] = []
    for wanted in config.cost.target_rps:
        replicas = math.ceil(wanted / rps) if rps > 0 else None
        scaling.append(
            {
                "target_rps": float(wanted),
                "replicas": replicas,
                "monthly_usd": None if replicas is None else replicas * provisioned["monthly_usd"],
            }
        )

    return {
        "inputs": {
            "source": prices.source,
            "date": prices.date,
            "vcpu_hour_usd": prices.vcpu_hour,
            "gb_hour_usd": prices.gb_hour,
            "hours_per_month": hours,
            "duration_s": duration,
            "cpu_budget": dict(target.get("cpu_budget") or {}),
            "assumption": "replicas scale the whole measured stack linearly, database included",
        },
        "services": services,
        "provisioned": provisioned,
        "usage": usage,
        "successful_rps": rps,
        "scaling": scaling,
    }
