"""targets.common.config: environment parsing fails naming the variable."""

from __future__ import annotations

import pytest

from targets.common.config import ServiceConfigError, load_service_config

BASE = {"PORT": "8080", "TOKEN_SECRET": "s" * 40}


def test_defaults() -> None:
    config = load_service_config(BASE)
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8080, 1)
    assert (config.db_pool_size, config.token_ttl_s, config.max_body_bytes) == (10, 3600, 65536)
    assert config.admin_username == "admin" and config.database_url == ""
    assert (config.header_timeout_s, config.body_timeout_s) == (10, 10)


@pytest.mark.parametrize("missing", ["PORT", "TOKEN_SECRET"])
def test_missing_required_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ServiceConfigError, match=missing):
        load_service_config(env)


def test_service_specific_requirements() -> None:
    with pytest.raises(ServiceConfigError, match="DATABASE_URL"):
        load_service_config(BASE, require=("DATABASE_URL",))
    env = {**BASE, "DATABASE_URL": "postgresql://u@127.0.0.1/db", "CATALOG_URL": "http://x:1/"}
    config = load_service_config(env, require=("DATABASE_URL",))
    assert config.database_url.endswith("/db") and config.catalog_url == "http://x:1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("WORKERS", "0"),
        ("DB_POOL_SIZE", "-1"),
        ("TOKEN_TTL_S", "1.5"),
        ("MAX_BODY_BYTES", "10"),
        ("HEADER_TIMEOUT_S", "0"),
        ("BODY_TIMEOUT_S", "soon"),
    ],
)
def test_invalid_integers_are_named(name: str, value: str) -> None:
    with pytest.raises(ServiceConfigError, match=name):
        load_service_config({**BASE, name: value})
