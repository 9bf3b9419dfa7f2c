"""Start a target on the local backend for a test: real PostgreSQL, NATS and services.

``deploy`` is the one way the contract tests start a deployment; the fixtures that
call it choose its scope (see ``tests/conftest.py`` for the rule).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.backends.base import DeploySettings
from harness.backends.lifecycle import ManagedDeployment
from harness.backends.local import LocalBackend
from harness.registry import get_topology
from harness.topology import Topology


@dataclasses.dataclass(frozen=True)
class Deployed:
    """A running deployment and the settings (secrets, passwords) it was started with."""

    deployment: ManagedDeployment
    settings: DeploySettings

    def database_url(self, instance: str = "postgres", database: str = "shop") -> str:
        """``postgresql://`` URL of database ``database`` on PostgreSQL instance ``instance``."""
        port = urlsplit(self.deployment.service_urls[instance]).port
        return f"postgresql://bench:{self.settings.db_password}@127.0.0.1:{port}/{database}"


def with_service_env(topology: Topology, service_env: Mapping[str, Mapping[str, str]]) -> Topology:
    """``topology`` with extra environment variables for some services (name -> {VAR: value})."""
    services = tuple(
        dataclasses.replace(s, env={**s.env, **service_env.get(s.name, {})})
        for s in topology.services
    )
    return dataclasses.replace(topology, services=services)


@contextlib.contextmanager
def deploy(
    target: str | Topology,
    workdir: Path,
    *,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
    **settings: Any,
) -> Iterator[Deployed]:
    """Start ``target`` (a name or a topology) with the local backend below ``workdir``.

    ``settings`` are ``DeploySettings`` fields (``run_id`` defaults to a fresh one);
    ``service_env`` adds environment variables per service. Everything is torn down
    when the block ends. A host where the local backend cannot run fails the test.
    """
    topology = get_topology(target) if isinstance(target, str) else target
    if service_env:
        topology = with_service_env(topology, service_env)
    backend = LocalBackend()
    available, reason = backend.available()
    assert available, f"the local backend cannot run here: {reason}"
    settings.setdefault("run_id", f"test-{topology.target}-{secrets.token_hex(3)}")
    deploy_settings = DeploySettings(workdir=workdir, **settings)
    with backend.up(topology, deploy_settings) as deployment:
        yield Deployed(deployment, deploy_settings)
