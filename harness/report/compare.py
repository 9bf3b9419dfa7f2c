"""Compare runs: per-target deltas against the first run, and configuration differences.

``compare_runs`` is pure (results in, plain data out); ``render_compare_html`` and
``render_compare_markdown`` return strings; ``write_comparison`` is the edge that
loads run directories and writes ``compare.html`` and ``compare.md`` atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.errors import BenchError
from harness.report.html import environment
from harness.report.markdown import escape_md, table
from harness.report.model import complete_targets, resolve_config
from harness.results import Results, load_results, write_atomic

HTML_FILE = "compare.html"
MARKDOWN_FILE = "compare.md"

# key, label, unit, where to find it, True when higher is better
METRICS: tuple[tuple[str, str, str, tuple[str, ...], bool], ...] = (
    ("capacity_rps", "capacity at the SLO", "req/s", ("capacity", "capacity_rps"), True),
    ("rps", "throughput", "req/s", ("summary", "rps"), True),
    ("p50_ms", "p50", "ms", ("summary", "p50_ms"), False),
    ("p95_ms", "p95", "ms", ("summary", "p95_ms"), False),
    ("p99_ms", "p99", "ms", ("summary", "p99_ms"), False),
    ("error_rate", "error rate", "%", ("summary", "error_rate"), False),
    ("per_million_usd", "$ / million req", "USD", ("cost", "reserved", "per_million_usd"), False),
    ("monthly_usd", "$ / month", "USD", ("cost", "reserved", "monthly_usd"), False),
)


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": value}``; lists are kept whole (compared as values)."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def differences(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keys whose values differ between ``documents``: ``{"key", "values": [...]}`` (None = absent)."""
    flats = [flatten(doc or {}) for doc in documents]
    keys = sorted(set().union(*flats)) if flats else []
    diffs = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(values[0], sort_keys=True, default=str)
               for v in values[1:]):
            diffs.append({"key": key, "values": values})
    return diffs


def _delta(base: float | None, value: float | None) -> tuple[float | None, float | None]:
    if base is None or value is None:
        return None, None
    change = value - base
    return change, (change / base * 100.0 if base else None)


def compare_runs(runs: Sequence[Results]) -> dict[str, Any]:
    """Deltas of every run against ``runs[0]`` per target, plus config and host differences.

    Returns ``runs`` (run ids), ``targets`` ({target: [{metric, label, unit,
    higher_is_better, values, deltas: [{abs, pct}]}]}), ``config_diff``, ``host_diff``,
    ``comparable`` (targets with a value in at least two runs) and ``warnings`` (runs
    without any target result, targets measured in one run only).
    """
    if len(runs) < 2:
        raise BenchError("bench compare needs at least two run directories")
    completed = [complete_targets(run, resolve_config(run)[0]) for run in runs]
    names: list[str] = []
    for targets in completed:
        names += [name for name in targets if name not in names]
    per_target: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        rows = []
        for key, label, unit, path, higher in METRICS:
            values = [_as_float(_dig(targets.get(name), path)) for targets in completed]
            if key == "capacity_rps" and all(v is None for v in values):
                continue  # no run searched this target's capacity
            deltas = []
            for value in values:
                change, pct = _delta(values[0], value)
                deltas.append({"abs": change, "pct": pct})
            rows.append({"metric": key, "label": label, "unit": unit, "higher_is_better": higher,
                         "values": values, "deltas": deltas})
        per_target[name] = rows
    labels: list[str] = []
    for index, run in enumerate(runs, start=1):
        label = str(run.get("run_id", "?"))
        labels.append(f"{label} [{index}]" if label in labels or any(
            str(other.get("run_id", "?")) == label for other in runs[:index - 1]) else label)
    comparable = [name for name, rows in per_target.items()
                  if any(sum(v is not None for v in row["values"]) >= 2 for row in rows)]
    return {
        "runs": labels,
        "targets": per_target,
        "config_diff": differences([run.get("config") or {} for run in runs]),
        "host_diff": differences([run.get("host") or {} for run in runs]),
        "comparable": comparable,
        "warnings": _warnings(labels, completed, per_target, comparable),
    }


def _warnings(labels: Sequence[str], completed: Sequence[dict[str, Any]], per_target: dict[str, Any],
              comparable: Sequence[str]) -> list[str]:
    found = [f"run {label} has no target results (it was interrupted or no target finished)"
             for label, targets in zip(labels, completed, strict=True) if not targets]
    for name in per_target:
        if name not in comparable:
            present = [label for label, targets in zip(labels, completed, strict=True) if name in targets]
            where = f"only in {', '.join(present)}" if present else "in no run with measurements"
            found.append(f"target {name} was measured {where}: nothing to compare")
    if not comparable:
        found.append("nothing is comparable: no target has measurements in two of the runs")
    return found


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_value(row: dict[str, Any], value: float | None) -> str:
    """A metric value for display in its unit."""
    if value is None:
        return "–"
    if row["unit"] == "%":
        return f"{100 * value:.2f}%"
    if row["unit"] == "USD":
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    return f"{value:,.1f}"


def format_delta(row: dict[str, Any], delta: dict[str, Any]) -> str:
    """``+12.3 (+5.6%)`` in the metric's unit; "–" when either side is missing."""
    change, pct = delta["abs"], delta["pct"]
    if change is None:
        return "–"
    if row["unit"] == "%":
        text = f"{100 * change:+.2f} pp"
    elif row["unit"] == "USD":
        text = f"{'+' if change >= 0 else '-'}${abs(change):,.4f}"
    else:
        text = f"{change:+,.1f}"
    return text if pct is None else f"{text} ({pct:+.1f}%)"


def delta_class(row: dict[str, Any], delta: dict[str, Any]) -> str:
    """CSS class: ``ok`` for a change in the good direction, ``warn`` for the bad one."""
    change = delta["abs"]
    if change is None or change == 0:
        return "neutral"
    return "ok" if (change > 0) == row["higher_is_better"] else "warn"


def render_compare_html(comparison: dict[str, Any]) -> str:
    """compare.html: one self-contained page (inline CSS, autoescaped)."""
    env = environment()
    env.globals.update(format_value=format_value, format_delta=format_delta, delta_class=delta_class,
                       show=_show)
    return env.get_template("compare.html.j2").render(c=comparison)


def build_compare_tables(comparison: dict[str, Any]) -> list[Table]:
    """One rich table per comparable target: metric rows, a column per run (value and delta)."""
    tables = []
    for name in comparison.get("comparable", list(comparison["targets"])):
        table = Table(title=name, title_justify="left")
        table.add_column("metric")
        for run in comparison["runs"]:
            table.add_column(Text(run), justify="right", overflow="fold")
        for row in comparison["targets"][name]:
            cells = [Text(format_value(row, row["values"][0]))]
            for value, delta in zip(row["values"][1:], row["deltas"][1:], strict=True):
                cell = Text(format_value(row, value))
                if delta["abs"] is not None:
                    style = {"ok": "green", "warn": "red"}.get(delta_class(row, delta), "")
                    cell.append(f"  {format_delta(row, delta)}", style=style)
                cells.append(cell)
            table.add_row(Text(f"{row['label']} ({row['unit']})"), *cells)
        tables.append(table)
    return tables


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def render_compare_markdown(comparison: dict[str, Any]) -> str:
    """compare.md: per-target tables of values and deltas, then configuration differences."""
    runs = comparison["runs"]
    lines = [f"# archbench comparison: {escape_md(' vs '.join(runs))}", "",
             f"Deltas are against the first run, {escape_md(runs[0])}.", ""]
    lines += [f"> **Warning:** {escape_md(text)}" for text in comparison.get("warnings") or []]
    if comparison.get("warnings"):
        lines.append("")
    for name, rows in comparison["targets"].items():
        lines += [f"## {escape_md(name)}", ""]
        headers = ["metric", *runs]
        body = [
            [f"{row['label']} ({row['unit']})", format_value(row, row["values"][0])]
            + [f"{format_value(row, v)} · Δ {format_delta(row, d)}" for v, d in zip(row["values"][1:], row["deltas"][1:], strict=True)]
            for row in rows
        ]
        lines += table(headers, body, numeric=set(range(1, len(headers)))) + [""]
    for title, diffs in (("Configuration differences", comparison["config_diff"]),
                         ("Host differences", comparison["host_diff"])):
        lines += [f"## {title}", ""]
        if diffs:
            lines += table(["key", *runs], [[d["key"], *(_show(v) for v in d["values"])] for d in diffs])
        else:
            lines.append("None.")
        lines.append("")
    return "\n".join(lines)


def write_comparison(run_dirs: Sequence[Path | str], out_dir: Path | str | None = None) -> list[Path]:
    """Load ``run_dirs``, compare them and write compare.html and compare.md; return the paths.

    ``out_dir`` defaults to ``compare/`` next to the first run directory.
    """
    return write_compared(compare_run_dirs(run_dirs), run_dirs, out_dir)


def compare_run_dirs(run_dirs: Sequence[Path | str]) -> dict[str, Any]:
    """``compare_runs`` of the results.json files of ``run_dirs``."""
    return compare_runs([load_results(path) for path in run_dirs])


def write_compared(comparison: dict[str, Any], run_dirs: Sequence[Path | str],
                   out_dir: Path | str | None = None) -> list[Path]:
    """Write ``comparison`` as compare.html and compare.md (default: ``compare/`` next to the first run)."""
    out = Path(out_dir) if out_dir is not None else Path(run_dirs[0]).resolve().parent / "compare"
    written = []
    for name, text in ((HTML_FILE, render_compare_html(comparison)),
                       (MARKDOWN_FILE, render_compare_markdown(comparison))):
        write_atomic(out / name, text)
        written.append(out / name)
    return written


__all__ = ["build_compare_tables", "compare_run_dirs", "compare_runs", "differences", "flatten",
           "render_compare_html", "render_compare_markdown", "write_compared", "write_comparison"]
