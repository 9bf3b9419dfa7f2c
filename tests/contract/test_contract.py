"""The one contract suite: every check of ``harness.contract`` against every target.

Each target is started once per session with the local backend (real
PostgreSQL, real NATS JetStream, ``python -m`` services); the checks run
against its entry URL and each check is one test, e.g.
``test_contract[monolith-concurrent_orders_no_oversell]``. A target that fails
to start fails (errors) all of its tests, it is never skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.deploy import deploy

from harness.contract import CHECK_NAMES, CheckResult, run_contract

TARGETS = ("monolith", "microservices", "event-driven", "event-driven-kafka", "express-monolith",
           "monolith-redis", "microservices-redis")

pytestmark = [pytest.mark.needs_postgres, pytest.mark.timeout(300)]


@dataclass(frozen=True)
class ContractRun:
    """The results of one full contract run against one target."""

    target: str
    results: dict[str, CheckResult]
    second_run: list[CheckResult]  # the whole suite again, against the same deployment
    logs: str  # tail of every instance's log, to explain a failure


@pytest.fixture(scope="session", params=TARGETS)
def contract_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContractRun]:
    target: str = request.param
    with deploy(
        target,
        tmp_path_factory.mktemp(f"contract-{target}"),
        run_id=f"contract-{target}-{secrets.token_hex(3)}",
        workers=2,  # several worker processes: the race-safety of start-up is part of the test
    ) as deployed:
        deployment, settings = deployed.deployment, deployed.settings
        results = run_contract(
            deployment.url,
            deployment.admin_username,
            deployment.admin_password,
            token_secret=settings.token_secret,
        )
        second_run = run_contract(
            deployment.url,
            deployment.admin_username,
            deployment.admin_password,
            token_secret=settings.token_secret,
        )
        logs = "\n".join(
            f"--- {instance.name}\n{deployment.logs(instance.name, 15)}"
            for instance in deployment.instances
        )
    yield ContractRun(target, {result.name: result for result in results}, second_run, logs)


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_contract(contract_run: ContractRun, check: str) -> None:
    result = contract_run.results.get(check)
    assert result is not None, f"{check} did not run against {contract_run.target}"
    assert result.ok, f"{contract_run.target}: {result.detail}\n{contract_run.logs}"


def test_contract_runs_again_against_the_same_deployment(contract_run: ContractRun) -> None:
    failed = [f"{r.name}: {r.detail}" for r in contract_run.second_run if not r.ok]
    assert len(contract_run.second_run) == len(CHECK_NAMES)
    assert not failed, f"{contract_run.target}, second run: {failed}"
