"""Temporary directories that outlive a killed harness, and their clean-up.

Teardown removes every directory a deployment made, but a harness killed with
SIGKILL runs no teardown: its processes die with it (parent-death signal), its
directories (PostgreSQL data, logs, samples) stay. Every such directory carries
an owner file naming the harness process; the next local deployment removes the
ones whose owner is gone, as the docker backend reaps containers by label.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

OWNER_FILE = ".archbench-owner"
PREFIX = "archbench-"


def claim_directory(path: Path) -> None:
    """Mark ``path`` as owned by this process (pid and start time, so pid reuse is not mistaken)."""
    me = psutil.Process()
    (path / OWNER_FILE).write_text(f"{me.pid} {me.create_time():.3f}\n", encoding="utf-8")


@contextlib.contextmanager
def owned_temp_directory(prefix: str = PREFIX) -> Iterator[Path]:
    """A temporary directory (removed afterwards) that a later run reaps if this process is killed.

    Reaps the directories of dead owners first, so every backend's runs clean up after
    killed predecessors, not only the local one.
    """
    reap_stale_directories()
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        path = Path(name)
        claim_directory(path)
        yield path


def owner_alive(path: Path) -> bool:
    """Whether the process that claimed ``path`` still runs (True when unclaimed or unreadable)."""
    try:
        pid_text, created_text = (path / OWNER_FILE).read_text(encoding="utf-8").split()
        pid, created = int(pid_text), float(created_text)
    except (OSError, ValueError):
        return True  # not ours to judge: never delete what we cannot attribute
    try:
        return abs(psutil.Process(pid).create_time() - created) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def reap_stale_directories(base: Path | None = None) -> list[Path]:
    """Remove ``archbench-*`` directories under ``base`` (default: the temp dir) whose owner died."""
    parent = base if base is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return removed
    for path in candidates:
        if path.is_symlink() or not (path / OWNER_FILE).exists() or owner_alive(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed
