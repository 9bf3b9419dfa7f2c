"""A fault on the docker backend: a killed container comes back by the restart policy, recovery measured.

Skips only when no Docker engine answers and ``BENCH_REQUIRE_DOCKER`` is unset (an
engine without the images is a failure: ``bash .ci/docker-setup.sh`` builds them).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console
from test_faults_local import config_with_profile

from harness.backends.docker import ENGINE_ERRORS, _docker_client
from harness.config import load_config
from harness.context import RunRequest, create_context
from harness.results import load_results, schema_problems
from harness.run import run_benchmark

pytestmark = [pytest.mark.needs_docker, pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(600)]

PROFILE = """
[profiles.faulty]
warmup = "2s"
max_in_flight = 200
stages = [{ duration = "20s", rate = 40 }]
faults = [{ at = "6s", action = "kill", service = "app" }]
"""


@pytest.fixture
def engine() -> None:
    """An engine that answers, or a skip (a failure with BENCH_REQUIRE_DOCKER set)."""
    try:
        _docker_client(timeout=30).ping()
    except ENGINE_ERRORS as error:
        reason = f"no Docker engine answers ({type(error).__name__}: {error})"
        if os.environ.get("BENCH_REQUIRE_DOCKER"):
            pytest.fail(f"BENCH_REQUIRE_DOCKER is set but {reason}")
        pytest.skip(f"{reason}; set BENCH_REQUIRE_DOCKER=1 to make this a failure")


def test_a_killed_container_is_restarted_and_its_recovery_measured(tmp_path: Path, engine: None) -> None:
    out = tmp_path / "reports"
    config = load_config(config_with_profile(tmp_path, PROFILE),
                         overrides={"run.out": str(out), "run.backend": "docker", "run.profile": "faulty"})
    context = create_context(config, RunRequest(targets=("monolith",)), Console(file=io.StringIO()))
    results = load_results(run_benchmark(context))
    assert schema_problems(results) == []
    result = results["targets"]["monolith"]
    assert result["backend"] == "docker"
    kill = result["faults"]["faults"][0]
    assert kill["event"]["error"] == "" and kill["event"]["restarts"], kill["event"]
    assert kill["event"]["restarts"][0]["healthy_s"] is not None
    assert kill["failures"] > 0
    assert kill["time_to_recover_s"] is not None and 0 < kill["time_to_recover_s"] < 12, kill
    assert result["integrity"]["lost"] == 0 and kill["orders"]["lost"] == 0
