"""Start targets and hold them to the HTTP contract (``bench verify``), or keep one up (``bench up``).

Plain functions the CLI commands call; ``harness.contract.run_contract`` does
the checking and returns ``CheckResult(name, ok, detail)`` records.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.backends import choose_backend, deploy_settings
from harness.backends._stale import owned_temp_directory
from harness.backends.base import Deployment
from harness.config import Config
from harness.context import new_run_id
from harness.contract import run_contract
from harness.errors import BenchError
from harness.registry import get_topology


@dataclass(frozen=True)
class Verification:
    """The contract checks of one target (or of one URL)."""

    target: str  # target name, or the URL when verifying a running server
    url: str
    checks: list[Any]  # CheckResult(name, ok, detail) from harness.contract

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failures(self) -> int:
        return sum(1 for check in self.checks if not check.ok)


@contextlib.contextmanager
def start_target(
    config: Config, target: str, backend_name: str, run_id: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> Iterator[tuple[Deployment, str, str]]:
    """Start ``target``; yield (deployment, backend reason, token secret); tear down on exit.

    ``announce`` gets one line saying what starts, before the (seconds-long) start-up.
    Work files live in a temporary directory removed afterwards.
    """
    topology = get_topology(target)
    backend, reason = choose_backend(backend_name, config)
    if announce is not None:
        announce(f"starting {target} on the {backend.name} backend ({reason}) ...")
    with owned_temp_directory("archbench-work-") as workdir:
        # Traversable (not listable) so an unprivileged PostgreSQL can live below it too.
        os.chmod(workdir, 0o711)
        settings = deploy_settings(config, target, run_id or new_run_id(prefix="up"), workdir)
        with backend.up(topology, settings) as deployment:
            yield deployment, reason, settings.token_secret


def verify_url(
    url: str, admin_username: str, admin_password: str, token_secret: str | None = None
) -> Verification:
    """Run the contract checks against a running target at ``url`` (http://127.0.0.1:PORT)."""
    try:
        checks = run_contract(url, admin_username, admin_password, token_secret=token_secret)
    except ValueError as error:  # e.g. a URL that is not on 127.0.0.1
        raise BenchError(str(error)) from None
    return Verification(target=url, url=url, checks=list(checks))


def verify_targets(
    config: Config, targets: Sequence[str], backend_name: str,
    announce: Callable[[str], None] | None = None,
) -> list[Verification]:
    """Start each target in turn, run the contract checks against it, tear it down.

    ``announce`` gets a line before each target starts (see ``start_target``).
    """
    for target in targets:
        get_topology(target)  # fail on a bad name before starting anything
    results: list[Verification] = []
    for target in targets:
        with start_target(config, target, backend_name, new_run_id(prefix="verify"),
                          announce) as (deployment, _, secret):
            found = verify_url(deployment.url, deployment.admin_username,
                               deployment.admin_password, token_secret=secret)
        results.append(Verification(target=target, url=deployment.url, checks=found.checks))
    return results


def render_checks(verifications: Sequence[Verification]) -> Table:
    """A table: one row per check of every target, pass/fail and the detail of failures."""
    table = Table(title="contract checks", show_lines=False)
    table.add_column("target")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for verification in verifications:
        for check in verification.checks:
            verdict = "[green]pass[/green]" if check.ok else "[red]FAIL[/red]"
            detail = "" if check.ok else escape(str(check.detail))
            table.add_row(escape(verification.target), escape(check.name), verdict, detail)
    return table


def format_summary(verifications: Sequence[Verification]) -> str:
    """One line per target: how many checks passed."""
    lines = []
    for verification in verifications:
        total = len(verification.checks)
        passed = total - verification.failures
        verdict = "ok" if verification.ok else "FAILED"
        lines.append(f"{verification.target}: {passed}/{total} checks passed ({verdict})")
    return "\n".join(lines)


def format_deployment(deployment: Deployment, reason: str) -> str:
    """What ``bench up`` prints: entry URL, admin credentials, every instance's URL, start time."""
    lines = [
        f"{deployment.target} is up ({reason})",
        f"  url:      {deployment.url}",
        f"  admin:    {deployment.admin_username} / {deployment.admin_password}",
        "  instances:",
    ]
    for instance in deployment.instances:
        lines.append(f"    {instance.name:<10} {instance.role:<7} {instance.url}")
    if deployment.log_dir is not None:  # local backend: where each instance logs
        lines.append(f"  logs:     {deployment.log_dir}")
    startup = deployment.startup_seconds.get("total")
    if startup is not None:
        lines.append(f"  healthy after {startup:.1f} s")
    return "\n".join(lines)
