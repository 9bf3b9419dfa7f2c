"""Directories of a SIGKILLed harness are reaped by the next run; live ones never are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.backends._stale import (
    OWNER_FILE,
    claim_directory,
    owned_temp_directory,
    reap_stale_directories,
)
from harness.backends.ownership import owner_token


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_reaps_only_directories_whose_owner_is_gone(tmp_path: Path) -> None:
    dead = tmp_path / "archbench-dead"
    (dead / "postgres" / "data").mkdir(parents=True)
    (dead / OWNER_FILE).write_text(f"{_dead_pid()} 12345.000\n", encoding="utf-8")
    reused = tmp_path / "archbench-reused"  # pid alive but started at another time: pid reuse
    reused.mkdir()
    (reused / OWNER_FILE).write_text("1 1.000\n", encoding="utf-8")
    alive = tmp_path / "archbench-alive"
    alive.mkdir()
    claim_directory(alive)
    unclaimed = tmp_path / "archbench-unclaimed"
    unclaimed.mkdir()
    garbled = tmp_path / "archbench-garbled"
    garbled.mkdir()
    (garbled / OWNER_FILE).write_text("not a pid", encoding="utf-8")
    other = tmp_path / "someone-else"
    other.mkdir()
    (other / OWNER_FILE).write_text(f"{_dead_pid()} 1.0\n", encoding="utf-8")

    removed = reap_stale_directories(tmp_path)

    assert sorted(p.name for p in removed) == ["archbench-dead", "archbench-reused"]
    assert not dead.exists() and not reused.exists()
    assert alive.exists() and unclaimed.exists() and garbled.exists() and other.exists()


def test_owned_temp_directory_is_claimed_and_removed() -> None:
    with owned_temp_directory() as path:
        assert (path / OWNER_FILE).read_text(encoding="utf-8").strip() == owner_token()
        assert path not in reap_stale_directories(path.parent)
        assert path.exists()
    assert not path.exists()


def test_owned_temp_directory_reaps_dead_owners_first(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    dead = tmp_path / "archbench-killed-run"
    dead.mkdir()
    (dead / OWNER_FILE).write_text(f"{_dead_pid()} 1.000\n", encoding="utf-8")
    with owned_temp_directory() as path:
        assert path.parent == tmp_path
        assert not dead.exists()
