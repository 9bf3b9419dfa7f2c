"""The restart policy: a crashed instance comes back after the delay; a stopped one stays down."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.registry import get_topology
from harness.seed import wait_healthy

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(180)]


def test_a_killed_service_is_restarted_after_the_delay_and_a_stopped_one_is_not(tmp_path: Path) -> None:
    settings = DeploySettings(run_id="restart", workdir=tmp_path, restart_delay=0.5)
    with LocalBackend().up(get_topology("monolith"), settings) as deployment:
        old = deployment.pids("app")
        killed = time.time()
        deployment.kill_service("app")
        deadline = time.time() + 30
        while time.time() < deadline and not deployment.restarts():
            time.sleep(0.2)
        restarts = deployment.restarts()
        assert [r.name for r in restarts] == ["app"], restarts
        restart = restarts[0]
        assert restart.healthy_s is not None and restart.healthy_s - killed >= 0.5  # the delay
        assert deployment.pids("app") and deployment.pids("app")[0] != old[0]
        wait_healthy(deployment.url, 10)
        deployment.stop_service("app")  # on purpose: stays down
        time.sleep(2.0)
        assert not deployment.pids("app") and len(deployment.restarts()) == 1
        deployment.start_service("app")
        assert deployment.pids("app")


def test_no_policy_means_no_restart(tmp_path: Path) -> None:
    settings = dataclasses.replace(DeploySettings(run_id="norestart", workdir=tmp_path), restart_delay=None)
    with LocalBackend().up(get_topology("monolith"), settings) as deployment:
        deployment.kill_service("app")
        time.sleep(2.0)
        assert not deployment.pids("app") and deployment.restarts() == []


def test_a_postgres_killed_from_outside_restarts_despite_its_zombie_and_lock_file(tmp_path: Path) -> None:
    """SIGKILL from outside leaves an unreaped postmaster and its postmaster.pid: a restart
    must reap the one and clear the other (before the fix it refused: "lock file exists")."""
    import os
    import signal

    settings = DeploySettings(run_id="pgkill", workdir=tmp_path)
    with LocalBackend().up(get_topology("monolith"), settings) as deployment:
        postmaster = deployment.pids("postgres")[0]
        os.kill(postmaster, signal.SIGKILL)  # not kill_service: nobody reaps it
        deadline = time.time() + 10
        while time.time() < deadline and deployment.pids("postgres"):
            time.sleep(0.1)
        assert not deployment.pids("postgres")
        assert deployment.start_service("postgres") < 30
        assert deployment.pids("postgres")[0] != postmaster
        wait_healthy(deployment.url, 30)  # the app's pool reconnects to the new server
