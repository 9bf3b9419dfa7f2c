"""Pure parts of the microservices target: stats aggregation, pool settings.

Order item validation is shared: tests/unit/test_common_validators.py.
"""

from __future__ import annotations

import uuid

import pytest

from targets.common.config import ServiceConfigError
from targets.microservices.gateway import aggregate_stats
from targets.microservices.reconcile import STORE_TIMEOUT_S, Confirmations, stale_after
from targets.microservices.upstream import UpstreamSettings, load_upstream_settings


def test_stats_aggregate_into_the_contract_shape() -> None:
    stats = aggregate_stats(
        {"users": 3},
        {"products": 2, "stock_total": 90},
        {"orders": {"confirmed": 4}, "units_sold": 10},
    )
    assert stats == {
        "users": 3,
        "products": 2,
        "orders": {"pending": 0, "confirmed": 4, "rejected": 0},
        "stock_total": 90,
        "units_sold": 10,
    }


def test_upstream_settings_defaults_and_overrides() -> None:
    assert load_upstream_settings({}) == UpstreamSettings()
    settings = load_upstream_settings(
        {"HTTP_POOL_SIZE": "32", "HTTP_KEEPALIVE_S": "5", "UPSTREAM_TIMEOUT_S": "1.5"}
    )
    assert settings == UpstreamSettings(pool_size=32, keepalive_s=5.0, timeout_s=1.5)


@pytest.mark.parametrize(
    "env",
    [
        {"HTTP_POOL_SIZE": "0"},
        {"HTTP_KEEPALIVE_S": "soon"},
        {"HTTP_KEEPALIVE_S": "-1"},
        {"UPSTREAM_TIMEOUT_S": "-1"},
    ],
)
def test_bad_upstream_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ServiceConfigError, match=next(iter(env))):
        load_upstream_settings(env)


def test_sweep_waits_past_the_longest_a_handler_holds_a_reservation() -> None:
    assert stale_after(10.0) == 60
    longest_handler = 100.0 + STORE_TIMEOUT_S
    assert stale_after(100.0) > longest_handler


def test_confirmations_come_back_in_order_after_a_failed_batch() -> None:
    ids = [uuid.UUID(int=n) for n in range(5)]
    confirmations = Confirmations()
    for order_id in ids:
        confirmations.add(order_id)
    batch = confirmations.take(3)
    assert batch == ids[:3]
    confirmations.give_back(batch)  # the confirm call failed: retried first next round
    assert confirmations.take(10) == ids
    assert confirmations.take(10) == []
