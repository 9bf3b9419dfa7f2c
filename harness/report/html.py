"""index.html: one self-contained page (inline CSS and SVG, no JavaScript, no CDN).

Rendered by jinja2 with autoescaping on, so every string that comes from the
configuration or the results is HTML-escaped. Only the SVG figures are marked safe:
matplotlib XML-escapes every label it writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from harness.report import capacity, firstscreen, plots, resilience
from harness.report.model import (
    ReportData,
    fmt,
    headline,
    integrity_verdict,
    no_target_reason,
    not_measured,
    usd,
    warnings_for,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    """The jinja2 environment of the reports: autoescape always on, helpers as globals."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # an optional key missing from results renders empty
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(fmt=_defined(fmt), usd=_defined(usd), price=_defined(price), host_value=host_value,
                       claim_range=claim_range, claim_value=claim_value, verdict_class=verdict_class,
                       resource_of=resource_of, format_time=_defined(firstscreen.format_time),
                       format_cpus=_defined(firstscreen.format_cpus),
                       format_profile=_defined(firstscreen.format_profile),
                       integrity_verdict=_defined(integrity_verdict),
                       capacity_label=_defined(capacity.capacity_label))
    return env


def _defined(function: Any) -> Any:
    """``function`` with jinja's Undefined (a key absent from results) passed as None: shown as "–"."""
    def call(value: Any, *args: Any) -> Any:
        return function(None if isinstance(value, jinja2.Undefined) else value, *args)
    call.__doc__ = function.__doc__
    return call


def price(value: float | None) -> str:
    """A unit price in dollars, all significant digits: ``$0.04048``."""
    return "–" if value is None else f"${float(value):g}"


def host_value(key: str, value: Any) -> str:
    """A host fact for display: bytes as GiB, None as a dash."""
    if value is None:
        return "–"
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return f"{value / 2**30:,.1f} GiB"
    return str(value)


def _format_claim(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "USD":
        return f"${value:,.0f}"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def claim_range(claim: dict[str, Any]) -> str:
    """``"100 – 500 req/s"`` for a claims row."""
    low, high = claim.get("claimed") or (None, None)
    unit = str(claim.get("unit", ""))
    if unit == "USD":
        return f"${low:,.0f} – ${high:,.0f}"
    return f"{low:,.0f} – {high:,.0f} {unit}"


def claim_value(claim: dict[str, Any]) -> str:
    """The measured value of a claims row, with its unit."""
    return _format_claim(claim.get("measured"), str(claim.get("unit", "")))


def verdict_class(claim: dict[str, Any]) -> str:
    """CSS class of a verdict badge: good/bad according to the metric's direction."""
    position = claim.get("verdict")
    if position == "within":
        return "ok"
    if position not in ("below", "above"):
        return "neutral"
    better = "above" if str(claim.get("direction", "")).startswith("higher") else "below"
    return "ok" if position == better else "warn"


def resource_of(services: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The measured resources of service ``name`` (empty values when not measured)."""
    for service in services:
        if service.get("name") == name:
            return service
    return {"cpu_seconds": None, "cpu_mean_pct": None, "cpu_peak_pct": None, "rss_peak_bytes": None}


def figures(data: ReportData) -> dict[str, Any]:
    """All SVG figures of the report, marked safe for the template."""
    warmup = {name: float((t.get("profile") or {}).get("warmup_s") or 0.0) for name, t in data.targets.items()}
    time_to_final = _time_to_final(data)
    return {
        "throughput": Markup(plots.throughput_svg(data.timeseries, warmup, _users(data))),
        "latency": Markup(plots.latency_over_time_svg(data.timeseries, warmup)),
        "distribution": Markup(plots.distribution_svg(data.latencies)),
        "resources": {
            name: Markup(plots.resources_svg(f"{index}", data.resources.get(name, pd.DataFrame())))
            for index, name in enumerate(data.targets)
        },
        "time_to_final": Markup(plots.time_to_final_svg(time_to_final)) if time_to_final else "",
        **_capacity_figures(data),
        **({"resilience": Markup(resilience.resilience_svg(data.timeseries, data.targets))}
           if resilience.has_faults(data.targets) else {}),
    }


def _capacity_figures(data: ReportData) -> dict[str, Any]:
    """The Capacity section's figures (none when no target was searched)."""
    if not capacity.has_capacity(data.targets):
        return {}
    curves = capacity.curves(data.targets)
    return {
        "capacity_latency": Markup(plots.capacity_latency_svg(curves, capacity.capacity_slo(data.targets))),
        "capacity_throughput": Markup(plots.capacity_throughput_svg(curves)),
        "capacity_bars": Markup(plots.capacity_bars_svg(capacity.capacity_ranking(data.targets))),
    }


def capacity_context(data: ReportData) -> dict[str, Any] | None:
    """What the Capacity section shows: the SLO, its latency condition, every step; None without a search."""
    if not capacity.has_capacity(data.targets):
        return None
    searched = next(t["capacity"] for t in data.targets.values() if t.get("capacity"))
    slo = capacity.capacity_slo(data.targets)
    return {"slo": " and ".join(str(s) for s in searched.get("slo") or []) or "not recorded",
            "slo_latency": slo[0] if slo else "", "steps": capacity.step_rows(data.targets)}


def resilience_context(data: ReportData) -> dict[str, Any] | None:
    """What the Resilience section shows (``harness.report.resilience``); None without faults."""
    if not resilience.has_faults(data.targets):
        return None
    return {"claim": resilience.CLAIM, "rows": resilience.fault_rows(data.targets),
            "claims": resilience.claims_rows(data.targets)}


def _users(data: ReportData) -> dict[str, pd.DataFrame]:
    """Users per second of every target's time series (recorded, else planned from the profile)."""
    users = {}
    for name, frame in data.timeseries.items():
        if frame.empty or "t_s" not in frame:
            continue
        recorded = frame["users"].tolist() if "users" in frame else None
        values = firstscreen.users_over_time(data.targets[name], frame["t_s"].tolist(), recorded)
        users[name] = pd.DataFrame({"t_s": frame["t_s"], "users": values})
    return users


def first_screen(data: ReportData) -> dict[str, Any]:
    """What the first screen shows: load context, bottlenecks, ranking, order latency, gate."""
    return {
        "context": firstscreen.load_context(data.targets, data.config),
        "bottlenecks": {name: firstscreen.bottleneck(t) for name, t in data.targets.items()},
        "ranking": firstscreen.ranking(data.targets),
        "capacity_ranking": capacity.capacity_ranking(data.targets),
        "orders": firstscreen.order_latency(data.targets),
        "gate": firstscreen.gate_summary(data.gate),
        "no_target": no_target_reason(data.results) if not data.targets else "",
    }


def _time_to_final(data: ReportData) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, dict(t["integrity"]["time_to_final"] or {}))
        for name, t in data.targets.items()
        if (t.get("integrity") or {}).get("time_to_final")
    ]


def render_html(data: ReportData) -> str:
    """The full index.html text for one run."""
    warnings = warnings_for(data.results, data.targets, data.missing)
    costs = [t["cost"] for t in data.targets.values() if t.get("cost")]
    prices = data.config.prices
    inputs = {"vcpu_hour_usd": prices.vcpu_hour, "gb_hour_usd": prices.gb_hour, "source": prices.source,
              "date": prices.date, "hours_per_month": prices.hours_per_month,
              "assumption": "replicas scale the whole measured stack linearly, database included"}
    template = environment().get_template("index.html.j2")
    return template.render(
        results=data.results,
        host=data.results.get("host") or {},
        targets=data.targets,
        config=data.config,
        config_note=data.config_note,
        config_json=json.dumps(data.results.get("config") or {}, indent=2, default=str),
        warnings=warnings,
        has_errors=any(w["level"] == "error" for w in warnings),
        headline=headline(data.targets),
        ordering=data.ordering,
        figures=figures(data),
        time_to_final=_time_to_final(data),
        first_cost=costs[0] if costs else {"inputs": inputs, "scaling": []},
        first=first_screen(data),
        capacity=capacity_context(data),
        resilience=resilience_context(data),
        latency_note=capacity.latency_note(data.targets),
        absent={name: not_measured(t) for name, t in data.targets.items()},
        run_started=firstscreen.format_time(data.results.get("started_at")),
        run_finished=firstscreen.format_time(data.results.get("finished_at")) if data.results.get("finished_at") else "",
    )
