"""bench.toml validation: every bad value is named with the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import DEFAULT_CONFIG, load_config, parse_config
from harness.errors import ConfigError
from harness.units import parse_duration, parse_percent, parse_size_mb


def test_default_config_loads_with_every_profile_of_the_issue() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert {"smoke", "quick", "ramp", "spike", "soak", "constant"} <= set(config.profiles)
    assert config.run.profile == "quick"
    assert config.profile("smoke").duration == pytest.approx(10.0)
    assert config.profile("constant").rate > 0
    assert config.prices.vcpu_hour == pytest.approx(0.04048)
    assert config.claims.targets["event-driven"].rps == (5000.0, 10000.0)


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ({"run": {"profil": "quick"}}, ["run.profil", "profile"]),
        ({"nope": {}}, ["'nope'", "valid keys"]),
        ({"run": {"backend": "kubernetes"}}, ["run.backend", "'kubernetes'", "'docker'"]),
        ({"run": {"health_timeout": "ten seconds"}}, ["run.health_timeout", "'ten seconds'", "30s"]),
        ({"run": {"targets": ["monolith", "serverless"]}}, ["'serverless'", "event-driven"]),
        ({"targets": {"mainframe": {"workers": 2}}}, ["mainframe", "monolith"]),
        ({"run": {"profile": "nightly"}}, ["'nightly'", "smoke"]),
        ({"seed": {"users": "many"}}, ["seed.users", "'many'", "whole number"]),
        ({"targets": {"monolith": {"services": {"app": {"memory": "lots"}}}}},
         ["targets.monolith.services.app.memory", "'lots'", "512MB"]),
        ({"profiles": {"smoke": {"stages": [{"users": 0}]}}}, ["profiles.smoke.stages[0]", "users"]),
    ],
)
def test_bad_values_are_named_with_choices(data: dict, needles: list[str]) -> None:
    base = {"profiles": {"smoke": {"stages": [{"duration": "1s"}]}}, "run": {"profile": "smoke"}}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    with pytest.raises(ConfigError) as raised:
        parse_config(base)
    message = str(raised.value)
    for needle in needles:
        assert needle in message, message
    assert raised.value.exit_code == 2


def test_overrides_apply_dotted_keys_and_ignore_none(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[run]\nprofile = "a"\n[profiles.a]\n[profiles.b]\n', encoding="utf-8")
    config = load_config(path, {"run.profile": "b", "run.backend": None})
    assert config.run.profile == "b"
    assert config.run.backend == "auto"


def test_missing_and_malformed_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("10s", 10.0), ("2m", 120.0), ("1h", 3600.0), (5, 5.0), ("1.5s", 1.5)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "-1s", "5 parsecs", True, -3])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "mb"), [("512MB", 512), ("1GB", 1024), ("1GiB", 1024), ("2g", 2048), (256, 256)]
)
def test_parse_size(text: str | int, mb: int) -> None:
    assert parse_size_mb(text) == mb


@pytest.mark.parametrize("text", ["12 bananas", "0", 0, "10b"])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size_mb(text)  # type: ignore[arg-type]


def test_parse_percent() -> None:
    assert parse_percent("15%") == pytest.approx(0.15)
    assert parse_percent(0.2) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        parse_percent("fifteen")
