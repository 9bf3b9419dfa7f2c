"""A process tree's memory counts shared pages once (PSS), not once per process (RSS)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from harness.procmem import tree_memory, tree_memory_bytes
from harness.resources import tree_reading

SHARED_MIB = 64
# Like PostgreSQL's shared buffers: one shared mapping that every forked backend touches.
TREE = f"""
import mmap, os, sys, time
shared = mmap.mmap(-1, {SHARED_MIB} << 20, flags=mmap.MAP_SHARED)
shared.write(b"x" * ({SHARED_MIB} << 20))
for _ in range(4):
    if os.fork() == 0:
        total = sum(shared[i] for i in range(0, {SHARED_MIB} << 20, 4096))  # touch every page
        os.write(1, b"ready\\n")
        time.sleep(60)
        os._exit(0)
os.write(1, b"ready\\n")
time.sleep(60)
"""


@pytest.fixture
def shared_tree() -> Any:
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    assert root.stdout is not None
    try:
        for _ in range(5):
            assert root.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        yield root
    finally:
        for child in psutil.Process(root.pid).children(recursive=True):
            child.kill()
        root.kill()
        root.wait()
        root.stdout.close()


def test_shared_memory_counts_once_across_the_tree(shared_tree: subprocess.Popen[str]) -> None:
    root = psutil.Process(shared_tree.pid)
    processes = [root, *root.children(recursive=True)]
    assert len(processes) == 5
    rss_sum = sum(p.memory_info().rss for p in processes)
    pss, measure = tree_memory(processes)
    assert measure == "pss"
    assert rss_sum > 4 * SHARED_MIB << 20  # what summing RSS reported: the mapping five times
    assert SHARED_MIB << 20 <= pss < 2 * SHARED_MIB << 20  # the mapping once, plus each interpreter
    reading = tree_reading("tree", shared_tree.pid)
    assert reading is not None and reading.rss_bytes < 2 * SHARED_MIB << 20


class _NoPss:
    """A process whose PSS is unreadable (another user's, without privileges)."""

    def memory_full_info(self) -> Any:
        raise psutil.AccessDenied(1)

    def memory_info(self) -> Any:
        return type("Mem", (), {"rss": 4096})()


class _Gone:
    def memory_full_info(self) -> Any:
        raise psutil.NoSuchProcess(2)

    memory_info = memory_full_info


def test_unreadable_pss_falls_back_to_rss_and_says_so() -> None:
    assert tree_memory([_NoPss(), _Gone()]) == (4096, "rss")  # type: ignore[list-item]
    assert tree_memory_bytes([]) == 0
    assert tree_memory([]) == (0, "pss")
