"""User errors reach the terminal as one message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = [sys.executable, "-c", "from harness.cli import main; main()"]


def _bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=30, cwd=cwd,
                          check=False)


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bench.toml"
    path.write_text('[profiles.quick]\n[run]\nprofile = "quick"\n' + text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["up", "serverless"], ["'serverless'", "monolith", "microservices", "event-driven"]),
        (["verify", "monolith", "mainframe"], ["'mainframe'", "event-driven"]),
        (["up", "monolith", "--backend", "kubernetes"], ["kubernetes", "auto", "local", "docker"]),
        (["up", "monolith", "--config", "/nonexistent/bench.toml"], ["/nonexistent/bench.toml"]),
        (["run", "monolith", "--gate", "--threshold", "p95 <"], ["'p95 <'", "missing value"]),
        (["run", "monolith", "--gate", "--threshold", "p42 < 1s"], ["p42", "p95"]),
        (["run", "serverless"], ["'serverless'", "event-driven"]),
    ],
)
def test_bad_names_exit_2_naming_value_and_choices(args: list[str], needles: list[str]) -> None:
    result = _bench(*args)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ("helth_timeout = '5s'\n", ["run.helth_timeout", "health_timeout"]),
        ("health_timeout = '5 parsecs'\n", ["run.health_timeout", "'5 parsecs'"]),
        ("targets = ['monolith', 'mainframe']\n", ["'mainframe'", "event-driven"]),
        ("[cpu]\ntarget_cpus = '1-x'\n", ["'1-x'", "cpu set"]),
        ("[cpu]\ntarget_cpus = '999'\n", ["'999'", "available"]),
        ("[targets.monolith.services.billing]\ncpus = 1\n", ["'billing'", "app"]),
    ],
)
def test_bad_config_exits_2_naming_key_value_and_choices(
    tmp_path: Path, toml: str, needles: list[str]
) -> None:
    result = _bench("up", "monolith", "--backend", "local", "--config", _config(tmp_path, toml))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def test_bad_backend_in_config_exits_2(tmp_path: Path) -> None:
    result = _bench("up", "monolith", "--config", _config(tmp_path, "backend = 'kubernetes'\n"))
    assert result.returncode == 2, result
    assert "run.backend" in result.stderr and "'docker'" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_url_refuses_non_loopback_without_traffic() -> None:
    result = _bench("verify", "--url", "http://example.com", "--admin-password", "x")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr


def test_verify_url_needs_the_admin_password() -> None:
    result = _bench("verify", "--url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "--admin-password" in result.stderr and "Traceback" not in result.stderr


def test_run_with_a_cpu_set_the_machine_lacks_exits_2_before_anything_starts(tmp_path: Path) -> None:
    config = _config(tmp_path, "[cpu]\ntarget_cpus = '999'\n")
    result = _bench("run", "monolith", "--config", config, "--out", str(tmp_path / "reports"))
    assert result.returncode == 2, result
    assert "cpu.target_cpus = '999' names CPU(s) [999] that this machine does not offer" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()  # refused at load: no run directory


def test_run_with_an_out_of_range_value_exits_2_naming_key_and_range(tmp_path: Path) -> None:
    result = _bench("run", "monolith", "--config", _config(tmp_path, "[prices]\nvcpu_hour = -0.04\n"))
    assert result.returncode == 2, result
    assert "prices.vcpu_hour: -0.04 is out of range; valid range: >= 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_profile_from_the_flag_names_the_flag(tmp_path: Path) -> None:
    result = _bench("run", "monolith", "--profile", "nope", "--config", _config(tmp_path, ""))
    assert result.returncode == 2, result
    assert "--profile nope: unknown profile 'nope'; valid profiles: quick" in result.stderr
    assert "run.profile" not in result.stderr


def test_gate_and_baseline_save_do_not_check_this_machines_cpus(tmp_path: Path) -> None:
    # before: `bench gate` on a results dir from a bigger machine failed with exit 2 at load
    from report_fixture import copy_fixture

    run_dir = copy_fixture(tmp_path)
    config = _config(tmp_path, "[cpu]\ntarget_cpus = '999'\ngenerator_cpus = '998'\n")
    for args in (["gate", str(run_dir), "--threshold", "p95 < 1h"],
                 ["baseline", "save", str(run_dir), "--dir", str(tmp_path / "baselines")]):
        result = _bench(*args, "--config", config)
        assert "does not offer" not in result.stderr, result
        assert "Traceback" not in result.stderr


def test_run_url_checks_the_generator_cpus_not_the_target_cpus(tmp_path: Path) -> None:
    url = ["run", "--url", "http://127.0.0.1:1", "--admin-user", "a", "--admin-password", "b",
           "--out", str(tmp_path / "reports")]
    generator = _config(tmp_path, "[cpu]\ngenerator_cpus = '999'\n")
    result = _bench(*url, "--config", generator)
    assert result.returncode == 2 and "cpu.generator_cpus = '999'" in result.stderr, result
    target = _config(tmp_path, "health_timeout = '0.2s'\n[cpu]\ntarget_cpus = '999'\n")
    result = _bench(*url, "--config", target)
    assert "does not offer" not in result.stderr, result
    assert "127.0.0.1:1" in result.stderr, result  # it got past the config to the (dead) URL
    assert "Traceback" not in result.stderr


def test_an_unknown_profile_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    # before: BENCH_PROFILE=nope was blamed on "--profile nope", a flag the user never typed
    import os

    env = {**os.environ, "BENCH_PROFILE": "nope"}
    result = subprocess.run([*BENCH, "run", "monolith", "--config", _config(tmp_path, "")], capture_output=True,
                            text=True, timeout=30, check=False, env=env)
    assert result.returncode == 2, result
    assert "BENCH_PROFILE=nope: unknown profile 'nope'; valid profiles: quick" in result.stderr
    assert "--profile" not in result.stderr


def test_run_gate_checks_the_regression_config_before_any_load(tmp_path: Path) -> None:
    # before: only the thresholds were checked up front; a bad regression metric failed after the load
    config = _config(tmp_path, "health_timeout = '0.2s'\n[gate.regression]\nmetrics = ['p42']\n")
    result = _bench("run", "--gate", "--url", "http://127.0.0.1:1", "--admin-user", "a", "--admin-password", "b",
                    "--config", config, "--out", str(tmp_path / "reports"))
    assert result.returncode == 2, result
    assert "gate.regression.metrics: 'p42' cannot be regression-tested" in result.stderr
    assert not (tmp_path / "reports").exists()  # refused before a run directory was made
