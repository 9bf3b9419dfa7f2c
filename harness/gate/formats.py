"""Renderers of a gate's checks (pure: they return strings or rich renderables, write nothing).

- ``build_gate_table`` / ``format_gate_table``: the console table
- ``format_junit``: JUnit XML, one ``testcase`` per check
- ``format_gate_markdown``: a Markdown section for ``$GITHUB_STEP_SUMMARY``
- ``gate_document`` / ``format_gate_json``: the ``gate.json`` document (its format is
  described in ``harness.gate.command``, which writes it)
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness._markdown import escape_md
from harness.gate.evaluate import Check, gate_exit_code, gate_outcome

GATE_SCHEMA = "archbench/gate@1"
_STYLE = {"pass": "green", "fail": "bold red", "error": "yellow"}


def build_gate_table(checks: Sequence[Check]) -> Table:
    """A rich table of every check (verdict coloured)."""
    table = Table(title=f"archbench gate: {gate_outcome(checks)}", title_justify="left")
    for column in ("verdict", "scope", "check", "value", "limit", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        # user text (endpoint names like "GET /x/{id}" or "[...]") is not rich markup
        cells = (check.scope, check.name, check.value, check.limit, check.detail)
        table.add_row(Text(check.verdict.upper(), style=_STYLE[check.verdict]), *(Text(c) for c in cells))
    return table


def format_gate_table(checks: Sequence[Check], *, width: int = 160) -> str:
    """The console table as plain text."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(build_gate_table(checks))
    return buffer.getvalue()


def format_junit(checks: Sequence[Check], *, suite: str = "archbench gate") -> str:
    """JUnit XML: one ``testcase`` per check; ``failure`` for fail, ``error`` for could-not-evaluate."""
    failures = sum(check.verdict == "fail" for check in checks)
    errors = sum(check.verdict == "error" for check in checks)
    counts = {"tests": str(len(checks)), "failures": str(failures), "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", {"name": suite, **counts})
    node = ET.SubElement(root, "testsuite", {"name": suite, **counts})
    for check in checks:
        case = ET.SubElement(node, "testcase", {
            "classname": f"archbench.gate.{check.scope}", "name": check.name, "time": "0",
        })
        summary = f"{check.name} [{check.scope}]: value {check.value}, limit {check.limit}"
        if check.verdict != "pass":
            tag = "failure" if check.verdict == "fail" else "error"
            element = ET.SubElement(case, tag, {"message": check.detail or summary, "type": tag})
            element.text = f"{summary}\n{check.detail}"
        ET.SubElement(case, "system-out").text = summary
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def format_gate_markdown(checks: Sequence[Check]) -> str:
    """A Markdown section (for ``$GITHUB_STEP_SUMMARY``): outcome line and a table of checks.

    Markdown is not HTML: ``p95 < 200ms`` is written as is (``harness._markdown.escape_md``).
    """
    icon = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}
    counted = {v: sum(c.verdict == v for c in checks) for v in ("pass", "fail", "error")}
    lines = [
        f"### archbench gate: {gate_outcome(checks)}",
        "",
        f"{counted['pass']} passed, {counted['fail']} failed, {counted['error']} could not be evaluated.",
        "",
        "| verdict | scope | check | value | limit | detail |",
        "|---|---|---|---|---|---|",
    ]
    for check in checks:
        cells = (icon[check.verdict], check.scope, check.name, check.value, check.limit, check.detail)
        lines.append("| " + " | ".join(escape_md(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def gate_document(checks: Sequence[Check], *, baseline: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``gate.json`` dict of a gate's checks (format: see ``harness.gate.command``)."""
    return {
        "schema": GATE_SCHEMA,
        "status": gate_outcome(checks),
        "exit_code": gate_exit_code(checks),
        "counts": {v: sum(c.verdict == v for c in checks) for v in ("pass", "fail", "error")},
        "baseline": baseline,
        "checks": [
            {
                "kind": check.kind, "name": check.name, "target": check.target,
                "endpoint": check.endpoint, "metric": check.metric or None, "op": check.op or None,
                "limit": check.bound or None, "value": None if check.value == "-" else check.value,
                "verdict": check.verdict, "detail": check.detail,
            }
            for check in checks
        ],
    }


def format_gate_json(checks: Sequence[Check], *, baseline: dict[str, str] | None = None) -> str:
    """``gate_document`` as indented JSON text (ends with a newline)."""
    return json.dumps(gate_document(checks, baseline=baseline), indent=2, ensure_ascii=False) + "\n"
