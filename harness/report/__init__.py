"""Reports of a run: ``index.html`` (self-contained) and ``summary.md``.

``render_run_report`` is a function of results.json and the files it names (read,
never written); ``write_run_reports`` is the edge that writes them atomically.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.html import render_html
from harness.report.markdown import render_markdown
from harness.report.model import collect
from harness.results import Results, load_results, write_atomic

HTML_FILE = "index.html"
MARKDOWN_FILE = "summary.md"


def render_run_report(results: Results, run_dir: Path | str) -> dict[str, str]:
    """Render every report of one run: file name -> text (``index.html``, ``summary.md``)."""
    data = collect(results, Path(run_dir))
    return {HTML_FILE: render_html(data), MARKDOWN_FILE: render_markdown(data)}


def write_run_reports(run_dir: Path | str) -> list[Path]:
    """Load ``run_dir/results.json``, render its reports and write them atomically; return the paths."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    written = []
    for name, text in render_run_report(results, run_dir).items():
        path = run_dir / name
        write_atomic(path, text)
        written.append(path)
    return written


__all__ = ["HTML_FILE", "MARKDOWN_FILE", "render_run_report", "write_run_reports"]
