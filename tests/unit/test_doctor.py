"""``bench doctor``'s CPU checks and formatting (pure: the usable CPU set is passed in)."""

from __future__ import annotations

from harness.cli.doctor import Check, cpu_checks, format_checks
from harness.config import load_config


def _by_name(checks: list[Check]) -> dict[str, Check]:
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
    config = load_config(overrides={"cpu.target_cpus": "3"})
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
        [Check("a", "ok", "fine"), Check("docker engine", "missing", "none", "start it")]
    )
    lines = text.splitlines()
    assert lines[0].startswith("ok") and "fine" in lines[0]
    assert lines[1].startswith("missing") and "docker engine" in lines[1]
    assert lines[2].strip() == "fix: start it"
