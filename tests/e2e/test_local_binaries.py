"""PostgreSQL binaries the unprivileged postgres user cannot reach get copied where it can."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.backends._local_infra import accessible_bindir, postgres_user, traversable

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e]

PGSERVER = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/pgserver"


@pytest.mark.timeout(120)
def test_unreachable_install_is_copied_and_runs_as_the_postgres_user(tmp_path: Path) -> None:
    user = postgres_user()
    if user is None:
        pytest.skip("only root needs an unprivileged postgres user (we are not root)")
    source = PGSERVER if PGSERVER.is_dir() else None
    if source is None:
        pytest.fail(f"pgserver install not found at {PGSERVER}; pip install pgserver")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    # The wheel's layout: pgserver/pginstall/bin, with its shared libraries in pgserver.libs.
    shutil.copytree(source / "pginstall", private / "pgserver" / "pginstall", symlinks=True)
    shutil.copytree(source.parent / "pgserver.libs", private / "pgserver.libs", symlinks=True)
    bindir = private / "pgserver" / "pginstall" / "bin"
    assert not traversable(bindir, *user)
    copied = accessible_bindir(bindir, user)
    try:
        assert copied != bindir and traversable(copied, *user)
        assert accessible_bindir(bindir, user) == copied  # cached: no second copy
        # The copy is complete: initdb finds share/ and lib/ relative to the copied binary.
        data_root = Path(tempfile.mkdtemp(prefix="archbench-e2e-", dir="/tmp"))
        os.chown(data_root, *user)
        initdb = subprocess.run(
            [str(copied / "initdb"), "-D", str(data_root / "data"), "-U", "bench", "--no-sync",
             "--auth=trust", "-E", "UTF8", "--locale=C"],
            user=user[0], group=user[1], extra_groups=[], capture_output=True, text=True,
            cwd=data_root, env={"PATH": os.defpath}, timeout=90, check=False,
        )
        shutil.rmtree(data_root, ignore_errors=True)
        assert initdb.returncode == 0, initdb.stdout + initdb.stderr
    finally:
        shutil.rmtree(copied.parents[2], ignore_errors=True)
