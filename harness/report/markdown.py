"""summary.md: the headline table and the verdicts in GitHub-flavoured Markdown.

Markdown is not HTML: plain text such as ``93.5% >= 90%`` or ``a < b`` is written as
is; ``escape_md`` (``harness._markdown``, shared with the gate's step summary) neutralises
only what GitHub would read as markup.
"""

from __future__ import annotations

from typing import Any

from harness._markdown import escape_md
from harness.report import capacity, firstscreen
from harness.report.model import (
    ReportData,
    fmt,
    headline,
    no_target_reason,
    not_measured,
    usd,
    warnings_for,
)

__all__ = ["escape_md", "render_markdown", "table"]


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
    lines = [f"# archbench: run {escape_md(results.get('run_id', '?'))}", "",
             f"**Load:** {escape_md(firstscreen.load_context(data.targets, data.config))}", ""]
    if not data.targets:
        lines += [f"**Not measured:** {escape_md(no_target_reason(results))}", ""]
    lines += [f"- **{escape_md(name)}**: {escape_md(firstscreen.bottleneck(target)['text'])}"
              for name, target in data.targets.items()]
    if data.targets:
        lines.append("")
    warnings = warnings_for(results, data.targets, data.missing)
    if warnings:
        lines += [f"> [!WARNING]\n> **{len(warnings)} warning(s)**"]
        lines += [f"> - **{escape_md(w['target'])}**: {escape_md(w['text'])}" for w in warnings]
    else:
        lines.append("No warnings: every target valid, no lost writes, load generator not saturated.")
    lines.append("")
    lines += _capacity_lines(data)
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
        claimed = " < ".join(escape_md(n) for n in ordering["claimed_order"])
        basis = escape_md(ordering.get("basis") or "measured throughput")
        lines += ["", (f"**Article's RPS ordering** ({claimed}): "
                  f"{verdict}; measured ({basis}) {measured} req/s.")]
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
    lines += _cost_lines(data)
    return "\n".join(lines) + "\n"


def _capacity_lines(data: ReportData) -> list[str]:
    """The capacity table (ranked, bounds labelled) and every step, when any target was searched."""
    ranking = capacity.capacity_ranking(data.targets)
    if not ranking:
        return []
    slo = ranking[0]["slo"] or "not recorded"
    lines = ["## Capacity at the SLO", "",
             f"SLO {escape_md(slo)}; latency is the p99 response time from the intended start "
             "(coordinated-omission corrected); service time is from the actual send.", ""]
    lines += table(["#", "target", "capacity", "% of best", "p99 ms at capacity", "$/M req at capacity",
                    "what limited it"],
                   [[str(i), r["target"], r["label"], fmt(r["pct_of_best"], 0, "%"), fmt(r["p99_ms"], 1),
                     usd(r["per_million"]), r["limited_by"]] for i, r in enumerate(ranking, 1)],
                   numeric={0, 3, 4, 5})
    steps = [[s["target"], str(s["index"]), fmt(s["offered_rps"], 1), fmt(s["achieved_rps"], 1), fmt(s["p50_ms"], 1),
              fmt(s["p99_ms"], 1), fmt(s["service_p99_ms"], 1), fmt(100 * float(s["error_rate"] or 0.0), 2, "%"),
              fmt(s["dropped"]), s["verdict"] + (" (at capacity)" if s["at_capacity"] else ""), s["limited_by"]]
             for s in capacity.step_rows(data.targets)]
    lines += ["", "<details><summary>Every step</summary>", ""]
    lines += table(["target", "#", "offered/s", "achieved/s", "p50 ms", "p99 ms", "service p99 ms", "errors",
                    "dropped", "verdict", "what limited it"], steps, numeric={1, 2, 3, 4, 5, 6, 7, 8})
    return [*lines, "", "</details>", ""]


def _cost_lines(data: ReportData) -> list[str]:
    """The provisioned-cost table (a "not measured" row where a target has no cost) and its prices."""
    rows = []
    for name, target in data.targets.items():
        cost = target.get("cost") or {}
        provisioned = cost.get("reserved") or cost.get("provisioned")
        if provisioned:
            rows.append([name, usd(provisioned.get("hourly_usd")), usd(provisioned.get("monthly_usd")),
                         usd(provisioned.get("per_million_usd"))])
        else:
            rows.append([name, not_measured(target).get("cost", "not measured"), "–", "–"])
    if not rows:
        return []
    prices = data.config.prices
    return ["", "## Cost (reserved: the CPU budget each target had; per request at capacity when searched)", "", *table(["target", "$/hour", "$/month", "$/M req"], rows, numeric={1, 2, 3}),
            "", (f"Prices: ${prices.vcpu_hour:g}/vCPU-hour, ${prices.gb_hour:g}/GB-hour "
                 f"({escape_md(prices.source)}, {escape_md(prices.date)}).")]
