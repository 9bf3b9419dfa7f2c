"""Pure parts of the event-driven target: event payloads, consumer settings.

Order item validation is shared: tests/unit/test_common_validators.py.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from targets.common.config import ServiceConfigError
from targets.event_driven.api import redrive_after_s
from targets.event_driven.consumer_app import ConsumerSettings
from targets.event_driven.events import BadEvent, OrderPlaced, OrderResult

ORDER_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_order_placed_round_trips() -> None:
    event = OrderPlaced(order_id=ORDER_ID, user_id=7, items=((3, 2), (9, 1)))
    assert OrderPlaced.decode(event.encode()) == event
    assert orjson.loads(event.encode()) == {
        "order_id": str(ORDER_ID),
        "user_id": 7,
        "items": [{"product_id": 3, "quantity": 2}, {"product_id": 9, "quantity": 1}],
    }


def _payload(**fields: object) -> bytes:
    return orjson.dumps({"order_id": str(ORDER_ID), "user_id": 1, **fields})


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        orjson.dumps(
            {"order_id": "nope", "user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}
        ),
        _payload(),
        _payload(items=[]),
        _payload(items=[{"product_id": 1, "quantity": 0}]),
        _payload(items=[{"product_id": 1, "quantity": 1}, {"product_id": 1, "quantity": 2}]),
        _payload(items=[{"product_id": 1}]),
    ],
)
def test_malformed_order_placed_is_a_bad_event(payload: bytes) -> None:
    with pytest.raises(BadEvent):
        OrderPlaced.decode(payload)


def test_order_result_subject_and_validation() -> None:
    result = OrderResult(ORDER_ID, "rejected")
    assert result.subject == "orders.result.rejected"
    assert OrderResult.decode(result.encode()) == result
    with pytest.raises(BadEvent):
        OrderResult.decode(orjson.dumps({"order_id": str(ORDER_ID), "outcome": "shipped"}))


def test_consumer_settings_from_environment() -> None:
    assert ConsumerSettings.from_env({}) == ConsumerSettings()
    settings = ConsumerSettings.from_env(
        {"ACK_WAIT_S": "2.5", "CONSUMER_CONCURRENCY": "8", "INVENTORY_CRASH_AFTER_COMMIT": "1"}
    )
    assert settings == ConsumerSettings(ack_wait_s=2.5, concurrency=8, crash_after_commit=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACK_WAIT_S", "soon"),
        ("ACK_WAIT_S", "0"),
        ("CONSUMER_CONCURRENCY", "0"),
        ("CONSUMER_CONCURRENCY", "-3"),
        ("INVENTORY_CRASH_AFTER_COMMIT", "yes"),
    ],
)
def test_consumer_settings_name_the_bad_variable(name: str, value: str) -> None:
    with pytest.raises(ServiceConfigError, match=name):
        ConsumerSettings.from_env({name: value})


def test_redrive_after_is_validated() -> None:
    assert redrive_after_s({}) == 30.0
    assert redrive_after_s({"REDRIVE_AFTER_S": "1"}) == 1.0
    for bad in ("never", "0.1"):
        with pytest.raises(ServiceConfigError, match="REDRIVE_AFTER_S"):
            redrive_after_s({"REDRIVE_AFTER_S": bad})
