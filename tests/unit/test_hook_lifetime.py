"""A Locust ``--processes`` worker (a fork of the master) dies with the master."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

# The "master" imports the hook, forks a "worker" that calls die_with_master() as
# events.init would, and the test SIGKILLs the master.
SCRIPT = """
import os, sys, time
from scenarios import hook
assert hook.die_with_master() is False  # in the importing process: nothing to do
pid = os.fork()
if pid == 0:
    assert hook.die_with_master() is True
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""


def test_a_forked_worker_dies_when_the_master_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    master = subprocess.Popen([sys.executable, "-c", SCRIPT, str(pid_file)])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and master.poll() is None
            time.sleep(0.05)
        worker = psutil.Process(int(pid_file.read_text()))
        master.kill()
        master.wait()
        _, alive = psutil.wait_procs([worker], timeout=5)
        assert alive == [], "the worker outlived its master"
    finally:
        master.kill()
        master.wait()
