"""Formatting of `bench verify` and `bench up` output (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness.backends.base import Instance
from harness.contract import CheckResult as Check  # the record bench verify formats
from harness.verify import Verification, format_deployment, format_summary, render_checks


def _render(table: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_failures_count_and_summary() -> None:
    good = Verification("monolith", "http://127.0.0.1:1", [Check("a", True, ""), Check("b", True, "")])
    bad = Verification("microservices", "http://127.0.0.1:2",
                       [Check("a", True, ""), Check("b", False, "GET / -> 500")])
    empty = Verification("event-driven", "http://127.0.0.1:3", [])
    assert good.ok and not bad.ok and not empty.ok  # no checks ran: not a pass
    assert bad.failures == 1
    assert format_summary([good, bad]).splitlines() == [
        "monolith: 2/2 checks passed (ok)", "microservices: 1/2 checks passed (FAILED)"]


def test_table_shows_failure_details_verbatim() -> None:
    detail = "expected [bold]401[/bold], got {'error': 'internal'}"
    text = _render(render_checks([Verification("t", "u", [Check("ok_one", True, "hidden"),
                                                          Check("bad_one", False, detail)])]))
    assert "bad_one" in text and "FAIL" in text
    assert "[bold]401[/bold]" in text  # markup in a detail is printed, not interpreted
    assert "hidden" not in text  # passing checks show no detail


@dataclass
class FakeDeployment:
    target: str = "monolith"
    url: str = "http://127.0.0.1:4000"
    admin_username: str = "admin"
    admin_password: str = "s3cret"
    startup_seconds: dict[str, float] | None = None
    instances: list[Instance] | None = None
    log_dir: Path | None = None


def test_deployment_lines_name_url_credentials_and_instances() -> None:
    deployment = FakeDeployment(
        startup_seconds={"total": 2.345},
        instances=[Instance("postgres", "infra", 1, 1024, 1, "postgresql://127.0.0.1:5000"),
                   Instance("app", "service", 1, 512, 2, "http://127.0.0.1:4000")],
    )
    text = format_deployment(deployment, "local (requested)")  # type: ignore[arg-type]
    assert "monolith is up (local (requested))" in text
    assert "url:      http://127.0.0.1:4000" in text
    assert "admin / s3cret" in text
    assert "postgresql://127.0.0.1:5000" in text and "healthy after 2.3 s" in text
