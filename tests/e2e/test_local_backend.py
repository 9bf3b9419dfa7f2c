"""LocalBackend against real PostgreSQL and real services: the Deployment API and failure paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.errors import BenchError
from harness.registry import get_topology
from harness.topology import InfraSpec, ServiceSpec, Topology

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e]

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LAST_CPU = str(max(os.sched_getaffinity(0)))


@pytest.fixture
def workdir() -> Iterator[Path]:
    """World-traversable (PostgreSQL runs as nobody under root); must be empty after teardown."""
    path = Path(tempfile.mkdtemp(prefix="archbench-e2e-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_children() -> Iterator[set[int]]:
    """PIDs of this test process's descendants before the test (to spot leftovers after)."""
    yield {p.pid for p in psutil.Process().children(recursive=True)}


def _leftovers(before: set[int]) -> list[str]:
    now = psutil.Process().children(recursive=True)
    return [f"{p.pid} {p.cmdline()}" for p in now if p.pid not in before]


def _health(url: str) -> int:
    try:
        with _NO_PROXY.open(url + "/health", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return -1


def _one_service_topology(module: str, tmp_module_dir: Path | None = None,
                          infra: tuple[InfraSpec, ...] = ()) -> Topology:
    env = {"PYTHONPATH": str(tmp_module_dir)} if tmp_module_dir else {}
    return Topology(
        target="test-only", description="a test-only target", entry="broken", infra=infra,
        services=(ServiceSpec(name="broken", module=module, env=env,
                              wiring={"DATABASE_URL": "postgres:shop"} if infra else {}),),
    )


@pytest.mark.timeout(120)
def test_monolith_deployment_api(workdir: Path, own_children: set[int], tmp_path: Path) -> None:
    settings = DeploySettings(run_id="t", workdir=workdir, target_cpus=_LAST_CPU, workers=2,
                              health_timeout=60)
    kept = tmp_path / "logs"
    with LocalBackend(log_dir=kept).up(get_topology("monolith"), settings) as deployment:
        assert [(i.name, i.role) for i in deployment.instances] == [
            ("postgres", "infra"), ("app", "service")]
        assert deployment.instances[1].workers == 2
        assert deployment.url == deployment.service_urls["app"]
        assert _health(deployment.url) == 200
        assert deployment.startup_seconds["total"] >= deployment.startup_seconds["postgres"] > 0

        readings = deployment.read_resources()
        assert [r.name for r in readings] == ["postgres", "app"]
        assert all(r.cpu_seconds > 0 and r.rss_bytes > 10 * 2**20 for r in readings)

        app_pids = deployment.pids("app")
        assert len(app_pids) == 3  # the parent and its 2 workers
        for pid in app_pids + deployment.pids("postgres"):
            assert psutil.Process(pid).cpu_affinity() == [int(_LAST_CPU)]
        assert "ready to accept connections" in deployment.logs("postgres", 400)

        deployment.stop_service("app")
        assert deployment.pids("app") == []
        assert _health(deployment.url) == -1
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                       for pid in app_pids)
        assert deployment.start_service("app") > 0
        assert _health(deployment.url) == 200
        restarted = deployment.pids("app")
        assert set(restarted).isdisjoint(app_pids)

        deployment.kill_service("app")  # a crash: SIGKILL to every process at once
        assert deployment.pids("app") == [] and _health(deployment.url) == -1
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                       for pid in restarted)
        # Restarted from a thread that then ends (as asyncio.to_thread may): the parent-death
        # signal is tied to the forking thread, so the service must not die with this one.
        restarter = threading.Thread(target=deployment.start_service, args=("app",))
        restarter.start()
        restarter.join()
        survivors = deployment.pids("app")
        time.sleep(1.0)
        assert _health(deployment.url) == 200
        assert deployment.pids("app") == survivors

        with pytest.raises(BenchError, match="no instance 'nope'.*postgres, app"):
            deployment.logs("nope")
    assert _leftovers(own_children) == []
    assert list(workdir.iterdir()) == []
    assert "ready to accept connections" in (kept / "monolith" / "postgres.log").read_text()
    assert (kept / "monolith" / "app.log").stat().st_size > 0


@pytest.mark.timeout(120)
def test_failing_service_is_named_with_its_log(workdir: Path, own_children: set[int]) -> None:
    topology = _one_service_topology("archbench_no_such_module",
                                     infra=(InfraSpec(kind="postgres", databases=("shop",)),))
    settings = DeploySettings(run_id="t", workdir=workdir, health_timeout=60)
    with pytest.raises(BenchError) as error, LocalBackend().up(topology, settings):
        pytest.fail("a broken service must not come up")
    message = str(error.value)
    assert message.startswith("broken: exited with code 1 before it was healthy")
    assert "No module named archbench_no_such_module" in message
    assert _leftovers(own_children) == []
    assert list(workdir.iterdir()) == []


@pytest.mark.timeout(120)
def test_unhealthy_service_that_ignores_sigterm_is_killed(
    workdir: Path, own_children: set[int], tmp_path: Path
) -> None:
    (tmp_path / "stubborn_service.py").write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('stubborn: listening nowhere', flush=True)\n"
        "time.sleep(3600)\n"
    )
    topology = _one_service_topology("stubborn_service", tmp_path)
    settings = DeploySettings(run_id="t", workdir=workdir, health_timeout=2)
    with pytest.raises(BenchError) as error, LocalBackend().up(topology, settings):
        pytest.fail("an unhealthy service must not come up")
    message = str(error.value)
    assert message.startswith("broken: not healthy after 2s (health_timeout)")
    assert "stubborn: listening nowhere" in message
    assert _leftovers(own_children) == []
    assert list(workdir.iterdir()) == []


@pytest.mark.timeout(120)
def test_orphans_of_a_crashed_service_are_killed(workdir: Path, tmp_path: Path) -> None:
    """The leader dies and leaves a child behind (reparented to init): its group still goes."""
    pid_file = tmp_path / "orphan.pid"
    (tmp_path / "crashing_service.py").write_text(
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "sys.exit(3)\n"
    )
    topology = _one_service_topology("crashing_service", tmp_path)
    settings = DeploySettings(run_id="t", workdir=workdir, health_timeout=30)
    with pytest.raises(BenchError, match="broken: exited with code 3"), \
            LocalBackend().up(topology, settings):
        pytest.fail("a crashing service must not come up")
    orphan = int(pid_file.read_text())
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == "zombie"
    assert list(workdir.iterdir()) == []


@pytest.mark.timeout(120)
def test_interrupt_inside_the_block_tears_down(workdir: Path, own_children: set[int]) -> None:
    settings = DeploySettings(run_id="t", workdir=workdir, health_timeout=60)
    topology = get_topology("monolith")
    with pytest.raises(KeyboardInterrupt), LocalBackend().up(topology, settings) as deployment:
        assert _health(deployment.url) == 200
        raise KeyboardInterrupt
    assert _leftovers(own_children) == []
    assert list(workdir.iterdir()) == []


@pytest.mark.timeout(120)
def test_every_listening_socket_is_on_loopback(workdir: Path) -> None:
    """PostgreSQL, NATS (client and monitoring ports) and services bind 127.0.0.1 only."""
    settings = DeploySettings(run_id="t", workdir=workdir, health_timeout=60)
    with LocalBackend().up(get_topology("event-driven"), settings) as deployment:
        listening: dict[str, set[str]] = {}
        for instance in deployment.instances:
            for pid in deployment.pids(instance.name):
                with contextlib.suppress(psutil.NoSuchProcess):
                    for conn in psutil.Process(pid).net_connections(kind="inet"):
                        if conn.status == psutil.CONN_LISTEN or conn.type == socket.SOCK_DGRAM:
                            listening.setdefault(instance.name, set()).add(conn.laddr.ip)
    assert set(listening) == {"postgres", "nats", "api", "inventory", "projector"}
    assert all(addresses == {"127.0.0.1"} for addresses in listening.values()), listening
