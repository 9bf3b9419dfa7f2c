"""`bench up` leaves nothing behind: not on Ctrl-C, not on SIGTERM, not even when SIGKILLed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR for one bench process (world-traversable: PostgreSQL runs as nobody under root)."""
    path = Path(tempfile.mkdtemp(prefix="archbench-e2e-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start_bench_up(tmpdir: Path) -> tuple[subprocess.Popen[str], str, list[psutil.Process]]:
    """Start `bench up monolith`; return it, its URL and its descendants once it is up."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "up", "monolith",
         "--backend", "local"],
        cwd=PROJECT_ROOT, env=dict(os.environ, TMPDIR=str(tmpdir)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = ""
    output = []
    for line in proc.stdout:
        output.append(line)
        if line.strip().startswith("url:"):
            url = line.split()[-1]
        if line.startswith("Press Ctrl-C"):
            break
    else:
        proc.kill()
        pytest.fail(f"bench up ended before it was up: {''.join(output)} {proc.stderr.read()}")  # type: ignore[union-attr]
    descendants = psutil.Process(proc.pid).children(recursive=True)
    return proc, url, descendants


def _health(url: str) -> int:
    with _NO_PROXY.open(url + "/health", timeout=5) as response:
        return int(response.status)


def _still_running(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_tears_everything_down(private_tmp: Path, signum: int) -> None:
    proc, url, descendants = _start_bench_up(private_tmp)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert _health(url) == 200
        commands = [" ".join(p.cmdline()) for p in descendants]
        assert any("postgres" in c for c in commands), commands
        assert any("targets.monolith" in c for c in commands), commands
        assert list(private_tmp.iterdir()), "the deployment should live below TMPDIR"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert _still_running(descendants) == []
    assert list(private_tmp.iterdir()) == []


@pytest.mark.timeout(180)
def test_children_die_with_a_sigkilled_harness(private_tmp: Path) -> None:
    proc, url, descendants = _start_bench_up(private_tmp)
    assert _health(url) == 200
    proc.kill()  # no teardown can run: PR_SET_PDEATHSIG must take the children down
    proc.communicate(timeout=30)
    _, alive = psutil.wait_procs(descendants, timeout=30)
    assert _still_running(alive) == []


@pytest.mark.timeout(180)
def test_ctrl_c_while_starting_tears_down(private_tmp: Path) -> None:
    """Interrupted while PostgreSQL starts (before anything is healthy): still nothing left."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "up", "event-driven",
         "--backend", "local"],
        cwd=PROJECT_ROOT, env=dict(os.environ, TMPDIR=str(private_tmp)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: dict[int, psutil.Process] = {}
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            for child in parent.children(recursive=True):
                seen.setdefault(child.pid, child)
            if any("postgres -D" in " ".join(p.cmdline()) for p in _running(seen)):
                break
            time.sleep(0.02)
        else:
            pytest.fail("postgres never started")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "is up" not in stdout  # interrupted before the target was up
    assert _still_running(list(seen.values())) == []
    assert list(private_tmp.iterdir()) == []


def _running(processes: dict[int, psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes.values():
        try:
            if process.is_running():
                process.cmdline()
                alive.append(process)
        except psutil.Error:
            continue
    return alive


@pytest.mark.timeout(300)
def test_locust_and_its_workers_die_with_a_sigkilled_bench_run(private_tmp: Path, tmp_path: Path) -> None:
    """Issue 11.7: Locust (master and --processes workers) must not outlive a SIGKILLed run."""
    from harness.measure import live_samples_pattern

    config = (PROJECT_ROOT / "bench.toml").read_text(encoding="utf-8")
    setting = re.compile(r"^generator_processes = \d+.*$", re.MULTILINE)
    assert len(setting.findall(config)) == 1
    config_path = tmp_path / "bench.toml"
    config_path.write_text(setting.sub("generator_processes = 2", config), encoding="utf-8")
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "run", "monolith", "--profile", "smoke",
         "--backend", "local", "--duration", "120s", "--config", str(config_path), "--out", str(out)],
        cwd=PROJECT_ROOT, env=dict(os.environ, TMPDIR=str(private_tmp)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    generators: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(generators) < 3:
            assert proc.poll() is None, "bench run ended before its load ran"
            time.sleep(0.5)
            if next(iter(out.glob(live_samples_pattern("monolith"))), None) is not None:
                generators = [p for p in _running({c.pid: c for c in psutil.Process(proc.pid).children(recursive=True)})
                              if "locust" in " ".join(p.cmdline())]
        assert len(generators) >= 3, "expected a Locust master and two workers"  # noqa: PLR2004
        proc.kill()  # no teardown runs: the parent-death signals must reach every generator
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(generators, timeout=10)
        assert _still_running(alive) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for process in generators:  # never leave a generator behind, even when the test fails
            with contextlib.suppress(psutil.Error):
                process.kill()
