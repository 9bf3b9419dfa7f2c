"""summary.md: the headline table and the verdicts in GitHub-flavoured Markdown.

Strings from results or configuration are escaped for Markdown tables (``|``) and
for the HTML that GitHub renders inside Markdown (``<``, ``>``, ``&``).
"""

from __future__ import annotations

import html
from typing import Any

from harness.report.model import ReportData, fmt, headline, usd, warnings_for


def escape_md(value: Any) -> str:
    """Text safe inside a Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    text = html.escape(str(value), quote=False)
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "\\`")


def table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> list[str]:
    """Lines of a Markdown table; columns in ``numeric`` are right-aligned. Cells are escaped."""
    numeric = numeric or set()
    lines = ["| " + " | ".join(escape_md(h) for h in headers) + " |",
             "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(escape_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _claims_value(claim: dict[str, Any], value: Any) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"${float(value):,.0f}" if claim.get("unit") == "USD" else f"{float(value):,.0f}"
    if claim.get("unit") == "USD":
        return f"${float(value):,.0f}"
    return f"{float(value):,.1f}" if float(value) < 100 else f"{float(value):,.0f}"


def render_markdown(data: ReportData) -> str:
    """The summary.md text for one run."""
    results = data.results
    lines = [f"# archbench: run {escape_md(results.get('run_id', '?'))}", ""]
    warnings = warnings_for(results, data.targets, data.missing)
    if warnings:
        lines += [f"> [!WARNING]\n> **{len(warnings)} warning(s)**"]
        lines += [f"> - **{escape_md(w['target'])}**: {escape_md(w['text'])}" for w in warnings]
    else:
        lines.append("No warnings: every target valid, no lost writes, load generator not saturated.")
    lines.append("")
    rows = [
        [r["target"], r["rps"], r["p50"], r["p95"], r["p99"], r["error_rate"], r["cpu_budget"],
         r["per_million"], r["integrity"], r["validity"] + (" (generator-bound)" if r["generator_bound"] else "")]
        for r in headline(data.targets)
    ]
    lines += table(["target", "RPS", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU budget", "$/M req",
                    "integrity", "validity"], rows, numeric={1, 2, 3, 4, 5, 7})
    ordering = data.ordering
    if ordering.get("holds") is not None:
        measured = " < ".join(f"{escape_md(n)} {fmt(ordering['measured_rps'][n], 1)}" for n in ordering["measured_order"])
        verdict = "holds" if ordering["holds"] else "does NOT hold"
        lines += ["", (f"**Article's RPS ordering** ({escape_md(' < '.join(ordering['claimed_order']))}): "
                  f"{verdict}; measured {measured} req/s.")]
    claim_rows = [
        [name, f"{c['label']} ({c['unit']})",
         f"{_claims_value(c, c['claimed'][0])} – {_claims_value(c, c['claimed'][1])}",
         _claims_value(c, c.get("measured")), c["verdict"], c.get("cpu_budget", "")]
        for name, target in data.targets.items() for c in target.get("claims") or []
    ]
    if claim_rows:
        lines += ["", "## Claims check", ""]
        lines += table(["target", "claim", "claimed", "measured", "verdict", "CPU budget"], claim_rows)
        lines += ["", (f"Source: {escape_md(data.config.claims.source)}; response time as "
                      f"{escape_md(data.config.claims.latency_metric)}.")]
    cost_rows = [
        [name, usd(t["cost"]["provisioned"]["hourly_usd"]), usd(t["cost"]["provisioned"]["monthly_usd"]),
         usd(t["cost"]["provisioned"]["per_million_usd"])]
        for name, t in data.targets.items() if t.get("cost")
    ]
    if cost_rows:
        inputs = next(iter(data.targets.values()))["cost"]["inputs"]
        lines += ["", "## Cost (provisioned)", ""]
        lines += table(["target", "$/hour", "$/month", "$/M req"], cost_rows, numeric={1, 2, 3})
        lines += ["", (f"Prices: ${inputs['vcpu_hour_usd']:g}/vCPU-hour, ${inputs['gb_hour_usd']:g}/GB-hour "
                      f"({escape_md(inputs['source'])}, {escape_md(inputs['date'])}).")]
    return "\n".join(lines) + "\n"
