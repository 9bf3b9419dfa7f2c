"""``bench doctor``'s CPU checks, formatting and exit status (pure: the usable CPU set is passed in)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.config import load_config
from harness.doctor import Finding, blocking, cpu_checks, format_checks


def _by_name(checks: list[Finding]) -> dict[str, Finding]:
    return {check.name: check for check in checks}


def test_default_cpu_sets_on_two_cores_are_ok() -> None:
    checks = _by_name(cpu_checks(load_config(), usable=frozenset({0, 1})))
    assert checks["cores"].status == "ok"
    assert checks["cpu.generator_cpus"].status == "ok"
    assert checks["cpu.target_cpus"].status == "ok"
    assert "cpu sets" not in checks
    assert checks["load generator"].status == "ok"
    assert "1 process(es) on 1 core(s)" in checks["load generator"].detail


def test_a_cpu_the_machine_lacks_is_missing_with_the_choices() -> None:
    config = load_config(overrides={"cpu.target_cpus": "3"}, check_cpus=False)
    check = _by_name(cpu_checks(config, usable=frozenset({0, 1})))["cpu.target_cpus"]
    assert check.status == "missing"
    assert "[3]" in check.detail
    assert "0,1" in check.fix


def test_shared_sets_one_core_and_too_many_processes_warn() -> None:
    config = load_config(overrides={"cpu.target_cpus": "0", "cpu.generator_processes": 2})
    checks = _by_name(cpu_checks(config, usable=frozenset({0})))
    assert checks["cores"].status == "warn"
    assert checks["cpu sets"].status == "warn"
    assert checks["load generator"].status == "warn"
    assert "generator_processes" in checks["load generator"].fix


def test_format_puts_the_fix_under_its_check() -> None:
    text = format_checks(
        [Finding("a", "ok", "fine"), Finding("docker engine", "missing", "none", "start it")]
    )
    lines = text.splitlines()
    assert lines[0].startswith("ok") and "fine" in lines[0]
    assert lines[1].startswith("missing") and "docker engine" in lines[1]
    assert lines[2].strip() == "fix: start it"


def test_a_cpu_set_the_machine_lacks_blocks_but_warnings_do_not() -> None:
    config = load_config(overrides={"cpu.target_cpus": "3"}, check_cpus=False)
    checks = cpu_checks(config, usable=frozenset({0, 1}))
    assert [check.name for check in blocking(checks)] == ["cpu.target_cpus"]
    assert "cpu.target_cpus = '3'" in _by_name(checks)["cpu.target_cpus"].detail
    shared = load_config(overrides={"cpu.target_cpus": "0", "cpu.generator_processes": 2})
    assert blocking(cpu_checks(shared, usable=frozenset({0}))) == []  # three warnings, no blocker


def test_doctor_exits_2_on_a_blocking_problem(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[profiles.quick]\n[run]\nprofile = "quick"\n[cpu]\ntarget_cpus = "999"\n',
                    encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "doctor",
                             "--config", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2, result
    assert "missing" in result.stdout and "cpu.target_cpus" in result.stdout
    assert "blocking problem(s): cpu.target_cpus" in result.stderr
    assert "Traceback" not in result.stderr


def test_doctor_says_which_limits_each_backend_can_enforce() -> None:
    from harness.config import load_config
    from harness.doctor import limits_check

    finding = limits_check(load_config(check_cpus=False))
    assert "docker: the engine enforces" in finding.detail and "local:" in finding.detail
    assert finding.status in ("ok", "warn", "missing")
