"""Generators of dead runs are reaped; those of live runs are not; children die with their parent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.backends.ownership import OWNER_ENV, owner_token
from harness.orphans import die_with_parent, reap_dead_generators

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _start(token: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(SLEEPER, env={**os.environ, OWNER_ENV: token}, start_new_session=True)


def test_the_reaper_kills_a_dead_owners_generator_and_spares_a_live_one() -> None:
    dead_token = f"{os.getpid()}:1@{socket.gethostname()}"  # our pid, another start time: a dead owner
    orphan, kept, untagged = _start(dead_token), _start(owner_token()), subprocess.Popen(SLEEPER)
    try:
        deadline = time.monotonic() + 10
        while OWNER_ENV not in psutil.Process(orphan.pid).environ() and time.monotonic() < deadline:
            time.sleep(0.05)  # environ is readable once the child has exec'd
        reaped = reap_dead_generators(timeout_s=5.0)
        assert orphan.pid in reaped
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert kept.poll() is None and kept.pid not in reaped
        assert untagged.poll() is None and untagged.pid not in reaped
    finally:
        for process in (orphan, kept, untagged):
            process.kill()
            process.wait()


def test_a_child_started_with_die_with_parent_dies_with_it(tmp_path: Path) -> None:
    """An intermediate process starts a child with the preexec hook, then is SIGKILLed."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "from harness.orphans import die_with_parent\n"
        f"child = subprocess.Popen({SLEEPER!r}, preexec_fn=die_with_parent())\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = psutil.Process(int(pid_file.read_text()))
        parent.kill()
        parent.wait()
        gone, alive = psutil.wait_procs([child], timeout=5)
        assert alive == [] and gone
    finally:
        parent.kill()
        parent.wait()


def test_die_with_parent_pins_the_cpus() -> None:
    cpu = min(os.sched_getaffinity(0))
    done = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                          preexec_fn=die_with_parent({cpu}), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"[{cpu}]"
