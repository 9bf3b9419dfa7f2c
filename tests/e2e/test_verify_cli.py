"""`bench verify --url`: exit 0 when every contract check passes, 1 when one fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.backends.base import DeploySettings
from harness.backends.local import LocalBackend
from harness.registry import get_topology

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e]


@pytest.mark.timeout(300)
def test_verify_url_exit_codes() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="archbench-e2e-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    settings = DeploySettings(run_id="verify", workdir=workdir, health_timeout=60)
    bench = [sys.executable, "-c", "from harness.cli import main; main()", "verify"]
    try:
        with LocalBackend().up(get_topology("monolith"), settings) as deployment:
            args = ["--url", deployment.url, "--admin-user", deployment.admin_username,
                    "--token-secret", settings.token_secret]
            good = subprocess.run([*bench, *args, "--admin-password", deployment.admin_password],
                                  capture_output=True, text=True, timeout=240, check=False)
            bad = subprocess.run([*bench, *args, "--admin-password", "not-the-password"],
                                 capture_output=True, text=True, timeout=240, check=False)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "checks passed (ok)" in good.stdout
    assert "expired_token_401" in good.stdout  # the token secret was passed through
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL" in bad.stdout and "FAILED" in bad.stdout
    assert "Traceback" not in bad.stderr
