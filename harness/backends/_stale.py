"""Temporary directories that outlive a killed harness, and their clean-up.

Teardown removes every directory a deployment made, but a harness killed with
SIGKILL runs no teardown: its processes die with it (parent-death signal), its
directories (PostgreSQL data, logs, samples) stay. Every such directory carries
an owner file holding the owner token of the harness (``ownership``); the next run
removes the ones whose owner is gone, as the docker backend reaps containers by label.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.backends.ownership import owner_alive, owner_token

OWNER_FILE = ".archbench-owner"
PREFIX = "archbench-"


def claim_directory(path: Path) -> None:
    """Mark ``path`` as owned by this process (its owner token: pid reuse is not mistaken)."""
    (path / OWNER_FILE).write_text(owner_token() + "\n", encoding="utf-8")


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


def directory_owner_alive(path: Path) -> bool:
    """Whether the process that claimed ``path`` still runs (True when unclaimed or unreadable)."""
    try:
        token = (path / OWNER_FILE).read_text(encoding="utf-8")
    except OSError:
        return True  # not ours to judge: never delete what we cannot attribute
    return owner_alive(token)


def reap_stale_directories(base: Path | None = None) -> list[Path]:
    """Remove ``archbench-*`` directories under ``base`` (default: the temp dir) whose owner died."""
    parent = base if base is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return removed
    for path in candidates:
        if path.is_symlink() or not (path / OWNER_FILE).exists() or directory_owner_alive(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed
