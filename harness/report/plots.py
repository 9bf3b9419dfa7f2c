"""Figures for the reports, rendered by matplotlib to SVG strings (no files, no pyplot).

Every function takes plain data (DataFrames / arrays keyed by target name) and returns
one ``<svg>...</svg>`` string ready to inline in HTML. Text stays text
(``svg.fonttype = none``: small and searchable), maths parsing is off so a name holding
``$`` cannot break a figure, and matplotlib XML-escapes every label. Element ids are
salted with the figure's key so several inline SVGs never share an id and the output
is deterministic.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any, cast

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

# Colour per target position (colour-blind-safe Okabe-Ito), then per service.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
SERVICE_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
NINES = (0.5, 0.9, 0.99, 0.999)  # percentiles of the distribution plot (fractions)
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.hashsalt": None,
}


def _style(extra: dict[str, Any] | None = None) -> contextlib.AbstractContextManager[None]:
    """The reports' matplotlib style (plus ``extra`` rcParams) for a ``with`` block."""
    return matplotlib.rc_context(cast(Any, {**_RC, **(extra or {})}))


def _figure(width: float, height: float, rows: int = 1, cols: int = 1,
            sharey: bool = False) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    return fig, axes


def _to_svg(fig: Figure, key: str) -> str:
    """Serialise ``fig`` to an inline ``<svg>`` string with ids salted by ``key``."""
    buffer = io.StringIO()
    with _style({"svg.hashsalt": f"archbench-{key}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks from the largest one at or below ``low`` to the smallest at or above ``high``.

    So a log axis always has a labelled tick below its lowest curve and above its highest
    (matplotlib's locator thins ticks and can leave e.g. 30 ms data with nothing under 50).
    """
    low = max(float(low), 1e-3)
    high = max(float(high), low * 1.001)  # at least two ticks, so the axis has a span
    ticks: list[float] = []
    decade = 10.0 ** np.floor(np.log10(low))
    while not ticks or ticks[-1] < high:
        for sub in (1.0, 2.0, 5.0):
            value = float(f"{sub * decade:.6g}")
            if ticks and ticks[-1] >= high:
                break
            ticks.append(value)
        decade *= 10.0
    below = [t for t in ticks if t <= low]
    return ticks[ticks.index(below[-1]):] if below else ticks


def _log_y(ax: Any, which: str = "y", data_range: tuple[float, float] | None = None) -> None:
    """Log axis labelled 1, 2, 5, 10, 20, 50 ... in plain numbers (maths parsing is off).

    With ``data_range`` (low, high) the ticks are exactly ``log_ticks`` of it and the axis
    spans them, so the data's whole range is labelled.
    """
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    if data_range is not None and all(np.isfinite(data_range)) and data_range[1] > 0:
        ticks = log_ticks(*data_range)
        axis.set_major_locator(FixedLocator(ticks))
        (ax.set_ylim if which == "y" else ax.set_xlim)(ticks[0], ticks[-1])
    else:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _empty(ax: object, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#777777")  # type: ignore[attr-defined]
    ax.set_xticks([])  # type: ignore[attr-defined]
    ax.set_yticks([])  # type: ignore[attr-defined]


def throughput_svg(series: Mapping[str, pd.DataFrame], warmup_s: Mapping[str, float],
                   users: Mapping[str, pd.DataFrame] | None = None) -> str:
    """Requests/s (solid) and failures/s (dotted) per 1-second bucket, all targets on one chart;
    under it, on the same time axis, the users (``users``: frames of ``t_s``, ``users``) over time."""
    users = users or {}
    with _style():
        fig = Figure(figsize=(9.0, 3.9), layout="constrained")
        ax, below = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1), squeeze=True)
        drawn = False
        for index, (name, frame) in enumerate(series.items()):
            if frame.empty:
                continue
            drawn = True
            ax.plot(frame["t_s"], frame["rps"], color=_color(index), linewidth=1.4, label=name)
            if frame["failures"].sum() > 0:
                ax.plot(frame["t_s"], frame["failures"], color=_color(index), linewidth=1.0,
                        linestyle=":", label=f"{name} failures/s")
        _mark_warmup(ax, warmup_s)
        if drawn:
            ax.set_ylabel("requests / s")
            ax.set_ylim(bottom=0)
            fig.legend(loc="outside lower center", ncols=6)
            _users_panel(below, series, users)
        else:
            _empty(ax, "no time series recorded")
            below.set_visible(False)
        return _to_svg(fig, "throughput")


def _users_panel(ax: Any, series: Mapping[str, pd.DataFrame], users: Mapping[str, pd.DataFrame]) -> None:
    """Users over time per target (step lines), on the throughput chart's time axis."""
    for index, name in enumerate(series):
        frame = users.get(name)
        if frame is None or frame.empty:
            continue
        ax.step(frame["t_s"], frame["users"], where="post", color=_color(index), linewidth=1.2)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("users")
    ax.set_xlabel("seconds since load start")


def _mark_warmup(ax: object, warmup_s: Mapping[str, float]) -> None:
    values = {v for v in warmup_s.values() if v > 0}
    if len(values) == 1:
        ax.axvspan(0, values.pop(), color="#000000", alpha=0.06, linewidth=0, label="warm-up (excluded)")  # type: ignore[attr-defined]


def latency_over_time_svg(series: Mapping[str, pd.DataFrame], warmup_s: Mapping[str, float]) -> str:
    """p50 / p95 / p99 per 1-second bucket, one panel per target, shared log y axis (ms)."""
    names = list(series) or ["(none)"]
    with _style():
        fig, axes = _figure(9.0, 2.8, 1, len(names), sharey=True)
        handles: list[object] = []
        for index, name in enumerate(names):
            ax = axes[0, index]
            frame = series.get(name)
            ax.set_title(name, color=_color(index))
            if frame is None or frame.empty:
                _empty(ax, "no time series")
                continue
            for column, style, label in (("p50_ms", "-", "p50"), ("p95_ms", "--", "p95"), ("p99_ms", ":", "p99")):
                ax.plot(frame["t_s"], frame[column], color=_color(index), linestyle=style, linewidth=1.2, label=label)
            _mark_warmup(ax, {name: warmup_s.get(name, 0.0)})
            _log_y(ax)
            ax.set_xlabel("seconds since load start")
            if index == 0:
                ax.set_ylabel("latency (ms, log)")
                handles = [Line2D([], [], color="#444444", linestyle=cast(Any, style), label=label)
                           for style, label in (("-", "p50"), ("--", "p95"), (":", "p99"))]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=3)
        return _to_svg(fig, "latency-over-time")


def nines_quantiles(points: int = 200) -> np.ndarray:
    """Quantiles (fractions) evenly spaced on the "nines" axis from 0.5 to 0.999."""
    nines = np.linspace(-np.log10(1 - NINES[0]), -np.log10(1 - NINES[-1]), points)
    return 1.0 - 10.0 ** (-nines)


def distribution_svg(latencies: Mapping[str, np.ndarray]) -> str:
    """Latency (ms, log) against percentile on a log "nines" axis (50% .. 99.9%), all targets."""
    quantiles = nines_quantiles()
    x = -np.log10(1.0 - quantiles)
    with _style():
        fig, axes = _figure(9.0, 3.4)
        ax = axes[0, 0]
        drawn: list[np.ndarray] = []
        for index, (name, values) in enumerate(latencies.items()):
            if values.size == 0:
                continue
            y = np.quantile(values, quantiles)
            drawn.append(y)
            ax.plot(x, y, color=_color(index), linewidth=1.6, label=f"{name} (n={values.size:,})")
        if drawn:
            ticks = [-np.log10(1 - q) for q in NINES]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * (1 - 10 ** -v):g}%"))
            ax.set_xlim(ticks[0], ticks[-1])
            positive = np.concatenate(drawn)
            positive = positive[positive > 0]
            _log_y(ax, data_range=(float(positive.min()), float(positive.max())) if positive.size else None)
            ax.set_xlabel("percentile (log 'nines' scale)")
            ax.set_ylabel("latency (ms, log)")
            ax.legend(loc="upper left")
        else:
            _empty(ax, "no samples")
        return _to_svg(fig, "distribution")


def resources_svg(key: str, frame: pd.DataFrame, duration_hint: float | None = None) -> str:
    """CPU % (100 = one core) and RSS (MiB) per service over time, two panels."""
    with _style():
        fig, axes = _figure(9.0, 2.6, 1, 2)
        cpu, rss = axes[0, 0], axes[0, 1]
        if frame.empty:
            _empty(cpu, "no resource readings")
            _empty(rss, "no resource readings")
            return _to_svg(fig, f"resources-{key}")
        for index, (name, group) in enumerate(frame.groupby("name", sort=False)):
            color = SERVICE_PALETTE[index % len(SERVICE_PALETTE)]
            style = "-"
            if name == "generator":  # the load generator's own readings, for reference
                color, style = "#888888", "--"
            cpu.plot(group["t_s"], group["cpu_pct"], color=color, linestyle=style, linewidth=1.3, label=str(name))
            rss.plot(group["t_s"], group["rss_bytes"] / 2**20, color=color, linestyle=style, linewidth=1.3)
        cpu.set_title("CPU (% of one core)")
        cpu.set_ylim(bottom=0)
        rss.set_title("resident memory (MiB)")
        rss.set_ylim(bottom=0)
        for ax in (cpu, rss):
            ax.set_xlabel("seconds since load start")
        fig.legend(loc="outside right center")
        return _to_svg(fig, f"resources-{key}")


def time_to_final_svg(rows: Sequence[tuple[str, Mapping[str, float | None]]]) -> str:
    """Horizontal bars of time-to-final quantiles (p50, p95, p99, max; ms) per target."""
    labels = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    with _style():
        fig, axes = _figure(9.0, 0.6 + 0.9 * max(1, len(rows)))
        ax = axes[0, 0]
        if not rows:
            _empty(ax, "no event-driven target in this run")
            return _to_svg(fig, "time-to-final")
        height = 0.18
        for row, (_name, stats) in enumerate(rows):
            for offset, label in enumerate(labels):
                value = stats.get(label)
                if value is None:
                    continue
                y = row + (offset - 1.5) * height
                ax.barh(y, value, height=height * 0.9, color=PALETTE[0], alpha=0.35 + 0.2 * offset)
                ax.text(value, y, f" {label[:-3]} {value:,.0f} ms", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [name for name, _ in rows])
        ax.invert_yaxis()
        longest = max((float(stats.get(k) or 0) for _, stats in rows for k in labels), default=1.0)
        ax.set_xlim(0, max(longest, 1) * 1.3)
        ax.set_xlabel("time from 202 Accepted to a final order status (ms)")
        ax.grid(axis="y", visible=False)
        return _to_svg(fig, "time-to-final")


# -- capacity (bench capacity) --------------------------------------------------------------


def _steps_by_rate(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(steps, key=lambda s: float(s.get("offered_rps") or 0.0))


def _values(steps: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray([np.nan if s.get(key) is None else float(s[key]) for s in steps], dtype=float)


def capacity_latency_svg(curves: Mapping[str, Sequence[Mapping[str, Any]]], slo: tuple[str, float] | None) -> str:
    """The hockey stick: p99 (ms, log) against offered rate per target, all on one plot.

    Solid with filled dots: response time p99 (from the intended start); dashed: service
    time p99 (from the send); hollow dots: steps that broke the SLO; the dotted red line is
    the SLO's latency limit.
    """
    with _style():
        fig, axes = _figure(9.0, 3.6)
        ax = axes[0, 0]
        drawn: list[np.ndarray] = []
        for index, (name, steps) in enumerate(curves.items()):
            ordered = _steps_by_rate(steps)
            if not ordered:
                continue
            x, p99, service = (_values(ordered, "offered_rps"), _values(ordered, "p99_ms"),
                               _values(ordered, "service_p99_ms"))
            drawn += [p99, service]
            color = _color(index)
            ax.plot(x, p99, color=color, linewidth=1.6, label=f"{name} p99 response time")
            ax.plot(x, service, color=color, linewidth=1.1, linestyle="--", label=f"{name} p99 service time")
            held = np.asarray([s.get("verdict") == "holds" for s in ordered])
            ax.scatter(x[held], p99[held], color=color, s=18, zorder=3)
            ax.scatter(x[~held], p99[~held], facecolors="white", edgecolors=color, s=22, zorder=3)
        if not drawn:
            _empty(ax, "no capacity steps recorded")
            return _to_svg(fig, "capacity-latency")
        values = np.concatenate(drawn + ([np.asarray([slo[1]])] if slo else []))
        values = values[np.isfinite(values) & (values > 0)]
        if slo is not None:
            ax.axhline(slo[1], color="#CC0000", linestyle=":", linewidth=1.4, label=f"SLO {slo[0]}")
        _log_y(ax, data_range=(float(values.min()), float(values.max())) if values.size else None)
        ax.set_xlim(left=0)
        ax.set_xlabel("offered arrival rate (requests / s)")
        ax.set_ylabel("p99 latency (ms, log)")
        fig.legend(loc="outside right center")
        return _to_svg(fig, "capacity-latency")


def capacity_throughput_svg(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Achieved against offered rate (requests/s) per target; the grey diagonal is "kept up"."""
    with _style():
        fig, axes = _figure(9.0, 3.0)
        ax = axes[0, 0]
        top = 0.0
        for index, (name, steps) in enumerate(curves.items()):
            ordered = _steps_by_rate(steps)
            if not ordered:
                continue
            x, achieved = _values(ordered, "offered_rps"), _values(ordered, "achieved_rps")
            top = max(top, float(np.nanmax(x)), float(np.nanmax(achieved)))
            ax.plot(x, achieved, color=_color(index), linewidth=1.6, marker="o", markersize=3.5, label=name)
        if top <= 0:
            _empty(ax, "no capacity steps recorded")
            return _to_svg(fig, "capacity-throughput")
        ax.plot([0, top], [0, top], color="#999999", linewidth=0.9, linestyle="--", label="achieved = offered")
        ax.set_xlim(0, top * 1.05)
        ax.set_ylim(0, top * 1.05)
        ax.set_xlabel("offered arrival rate (requests / s)")
        ax.set_ylabel("achieved (requests / s)")
        fig.legend(loc="outside right center")
        return _to_svg(fig, "capacity-throughput")


def capacity_bars_svg(rows: Sequence[Mapping[str, Any]]) -> str:
    """Ranked horizontal bars of capacity (requests/s) with the bracket [low, high] as the interval.

    An "at least" capacity gets an arrow to the right (a lower bound); "below the lowest
    rate tried" a hatched bar up to that rate (an upper bound). ``rows`` as
    ``harness.report.capacity.capacity_ranking`` returns them, best first.
    """
    with _style():
        fig, axes = _figure(9.0, 0.7 + 0.55 * max(1, len(rows)))
        ax = axes[0, 0]
        if not rows:
            _empty(ax, "no capacity search in this run")
            return _to_svg(fig, "capacity-bars")
        top = max(float(r.get("high_rps") or r.get("capacity_rps") or 0.0) for r in rows) or 1.0
        for position, row in enumerate(rows):
            color = _color(position)
            found, low, high = row.get("capacity_rps"), row.get("low_rps"), row.get("high_rps")
            if found is None:  # below the lowest rate tried: an upper bound
                ax.barh(position, float(high or 0.0), height=0.55, color="white", edgecolor=color, hatch="///")
                ax.text(float(high or 0.0), position, f" {row['label']}", va="center", fontsize=7.5)
                continue
            ax.barh(position, float(found), height=0.55, color=color, alpha=0.8)
            if row.get("kind") == "at_least":
                ax.annotate("", xy=(float(found) + 0.08 * top, position), xytext=(float(found), position),
                            arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.4})
            elif low is not None and high is not None:
                ax.errorbar(float(found), position, xerr=[[float(found) - float(low)], [float(high) - float(found)]],
                            color="#222222", capsize=4, linewidth=1.1)
            ax.text(max(float(high or found), float(found)) + (0.09 if row.get("kind") == "at_least" else 0.01) * top,
                    position, f"  {row['label']}", va="center", fontsize=7.5)
        ax.set_yticks(range(len(rows)), [str(r["target"]) for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.6)
        ax.set_xlabel("capacity at the SLO (requests / s); interval: the bracket [highest rate that held, "
                      "lowest that broke]")
        ax.grid(axis="y", visible=False)
        return _to_svg(fig, "capacity-bars")
