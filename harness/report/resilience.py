"""The report's Resilience section: each injected fault as a table row, the claims row, the figure.

A target's ``faults`` section (``harness.results.FaultsSection``, computed by
``harness.resilience``) says what each fault did. This module turns it into rows (one
per target x fault), one claims row per architecture ("single point of failure" or
"fault tolerant", with the evidence: which faults took every endpoint down), and an SVG
of throughput and error rate over time with every fault shaded and labelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.report import plots
from harness.results import TargetResult

CLAIM = ("The article: a monolith's \"single point of failure can bring down the entire system\"; "
         "microservices and event-driven systems \"improve fault tolerance and resilience\".")


def has_faults(targets: Mapping[str, TargetResult]) -> bool:
    """Whether any target of the run had faults injected."""
    return any(t.get("faults") for t in targets.values())


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _seconds(value: Any) -> str:
    return "not recovered" if value is None else f"{float(value):.1f}s"


def fault_rows(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """One row per target x fault: availability during it, time to recover, errors, orders."""
    rows = []
    for name, target in targets.items():
        section: Mapping[str, Any] = target.get("faults") or {}
        for fault in section.get("faults") or []:
            event, orders = fault["event"], fault["orders"]
            applied = event.get("at_s") is not None
            rows.append({
                "target": name, "fault": event["label"],
                "at": "not applied" if not applied else f"{float(event['offset_s']):.1f}s",
                "availability": _pct(fault["availability"]),
                "recovery": _seconds(fault["time_to_recover_s"]) if applied else "–",
                "first_failure": "–" if fault["time_to_first_failure_s"] is None
                else f"{float(fault['time_to_first_failure_s']):.2f}s",
                "errors": f"{fault['failures']:,} of {fault['requests']:,}",
                "classes": ", ".join(f"{k} {v}" for k, v in sorted(fault["failure_classes"].items())),
                "lost": "not checked" if orders["lost"] is None else str(orders["lost"]),
                "stuck": "–" if orders["stuck"] is None else str(orders["stuck"]),
                "indeterminate": str(orders["indeterminate"]),
                "budget": "–" if fault["error_budget_consumed"] is None
                else f"{float(fault['error_budget_consumed']):.0%}",
                "summary": fault["summary"], "restarted": bool(event.get("restarts")),
                "everything_down": fault["everything_down"], "bad": bool(orders["lost"]),
            })
    return rows


def claims_rows(targets: Mapping[str, TargetResult]) -> list[dict[str, Any]]:
    """One row per target with faults: its verdict and the evidence lines."""
    rows = []
    for name, target in targets.items():
        section: Mapping[str, Any] = target.get("faults") or {}
        if not section:
            continue
        faults = [f for f in section.get("faults") or [] if f["event"].get("at_s") is not None]
        down = [f["event"]["label"] for f in faults if f["everything_down"]]
        rows.append({"target": name, "verdict": section.get("verdict", "not measured"),
                     "class": {"fault tolerant": "ok", "single point of failure": "bad"}.get(
                         str(section.get("verdict")), "neutral"),
                     "contained": f"{len(faults) - len(down)} of {len(faults)} faults left some endpoint up",
                     "evidence": list(section.get("evidence") or [])})
    return rows


def resilience_svg(series: Mapping[str, pd.DataFrame], targets: Mapping[str, TargetResult]) -> str:
    """Requests/s and error rate per second, one panel per target, every fault shaded and labelled."""
    names = [n for n, t in targets.items() if t.get("faults") and not series.get(n, pd.DataFrame()).empty]
    with plots._style():
        fig, axes = plots._figure(9.0, 2.2 * max(1, len(names)), rows=max(1, len(names)))
        if not names:
            plots._empty(axes[0][0], "no time series of a run with faults")
            return plots._to_svg(fig, "resilience")
        for row, name in enumerate(names):
            _panel(axes[row][0], name, series[name], targets[name], row)
        axes[-1][0].set_xlabel("seconds since load start")
        return plots._to_svg(fig, "resilience")


def _panel(ax: Any, name: str, frame: pd.DataFrame, target: TargetResult, index: int) -> None:
    color = plots._color(index)
    ax.plot(frame["t_s"], frame["rps"], color=color, linewidth=1.3, label="requests/s")
    ax.set_ylabel(f"{name}\nrequests / s")
    ax.set_ylim(bottom=0)
    errors = ax.twinx()
    rate = frame["failures"] / frame["requests"].where(frame["requests"] > 0)
    errors.plot(frame["t_s"], rate.fillna(0.0) * 100.0, color="#c0392b", linewidth=1.0, linestyle=":",
                label="error rate %")
    errors.set_ylim(0, 100)
    errors.set_ylabel("errors %")
    section: Mapping[str, Any] = target.get("faults") or {}
    top = float(frame["rps"].max() or 1.0)
    for fault in section.get("faults") or []:
        window = fault.get("window_s") or []
        if len(window) != 2:
            continue
        start, end = float(window[0]), max(float(window[1]), float(window[0]) + 0.3)
        recovered = fault.get("time_to_recover_s")
        ax.axvspan(start, end, color="#e67e22", alpha=0.25, linewidth=0)
        if recovered is not None and start + float(recovered) > end:
            ax.axvspan(end, start + float(recovered), color="#e67e22", alpha=0.08, linewidth=0)
        ax.text(start, top * 1.02, fault["event"]["label"], fontsize=7, rotation=0, va="bottom")
    ax.set_ylim(0, top * 1.25)
