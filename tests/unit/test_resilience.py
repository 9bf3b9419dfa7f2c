"""Recovery metrics from synthetic samples: fault windows, band, time to recover, orders (Jepsen)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.resilience import FaultInputs, fault_section, recovery_second, verdict_of
from harness.results import SAMPLE_COLUMNS, FaultEvent, FaultsSection, schema_problems

T0 = 1_700_000_000.0
RATE = 50  # requests per second per endpoint
LOAD_S = 40


def _event(action: str, instance: str, offset: float, end: float | None) -> FaultEvent:
    return FaultEvent(action=action, instance=instance, label=f"{action} {instance}", planned_s=offset,
                      at_s=T0 + offset, offset_s=offset, end_s=None if end is None else T0 + end,
                      duration_s=None, restarts=[], error="")


def samples(outage: tuple[float, float], down: set[str], *, slow_until: float = 0.0,
            orders: dict[float, str] | None = None) -> pd.DataFrame:
    """Open-model samples: two endpoints at RATE/s each; ``down`` endpoints fail in ``outage``.

    Requests intended in [outage end, slow_until) answer slowly (a backlog draining).
    ``orders`` maps an intended time to the id of an order acknowledged then.
    """
    rows = []
    orders = orders or {}
    for name in ("GET /products", "POST /orders"):
        for k in range(LOAD_S * RATE):
            intended = k / RATE
            latency = 400.0 if outage[1] <= intended < slow_until else 5.0
            failing = name in down and outage[0] <= intended < outage[1]
            order_id = orders.get(round(intended, 4), "") if name == "POST /orders" and not failing else ""
            rows.append((T0 + intended, 0.0 if failing else latency, name, 0 if failing else 200,
                         not failing, 10, "connection" if failing else "", order_id,
                         "u1" if order_id else "", T0 + intended))
    return pd.DataFrame.from_records(rows, columns=list(SAMPLE_COLUMNS))


def section(frame: pd.DataFrame, events: list[FaultEvent], **kwargs: object) -> FaultsSection:
    return fault_section(FaultInputs(samples=frame, events=events, load_start_s=T0,
                                     load_end_s=T0 + LOAD_S, warmup_s=2.0, **kwargs))  # type: ignore[arg-type]


def test_a_total_outage_is_measured_from_the_fault_to_the_first_second_back_in_band() -> None:
    frame = samples((10.5, 13.0), {"GET /products", "POST /orders"}, slow_until=15.0)  # 400 ms: out of band
    result = section(frame, [_event("kill", "app", 10.5, 13.0)])
    assert schema_problems(result, FaultsSection) == []
    fault = result["faults"][0]
    assert fault["everything_down"] and fault["went_down"] == ["GET /products", "POST /orders"]
    assert fault["availability"] == pytest.approx(0.0)
    assert fault["time_to_first_failure_s"] == pytest.approx(0.0, abs=0.03)
    # seconds 10..12 fail, 13 and 14 are slow (p99 400 ms, out of band): back from second 15
    assert fault["time_to_recover_s"] == pytest.approx(15.0 - 10.5)
    assert fault["failure_classes"] == {"connection": fault["failures"]}
    per = fault["per_second"]
    assert per["t_s"][0] == 7 and per["availability"][per["t_s"].index(11)] == 0.0
    assert per["availability"][per["t_s"].index(8)] == 1.0
    assert result["verdict"] == "single point of failure"
    assert result["evidence"][0].startswith("kill app: every endpoint down")


def test_reads_that_stay_up_make_the_fault_contained() -> None:
    frame = samples((10.0, 14.0), {"POST /orders"})
    result = section(frame, [_event("kill", "orders", 10.0, 14.0)])
    fault = result["faults"][0]
    assert fault["stayed_up"] == ["GET /products"] and fault["went_down"] == ["POST /orders"]
    assert not fault["everything_down"]
    assert fault["availability"] == pytest.approx(0.5)
    assert fault["summary"] == "GET /products stayed up; POST /orders went down while orders was down"
    assert result["verdict"] == "fault tolerant"


def test_a_fault_that_never_recovers_has_no_time_to_recover() -> None:
    frame = samples((30.0, 41.0), {"GET /products", "POST /orders"})
    fault = section(frame, [_event("kill", "postgres", 30.0, None)])["faults"][0]
    assert fault["time_to_recover_s"] is None
    assert fault["window_s"] == [30.0, 40.0]


def test_a_fault_without_trace_recovers_at_once() -> None:
    fault = section(samples((0, 0), set()), [_event("pause", "projector", 20.0, 22.0)])["faults"][0]
    assert fault["time_to_recover_s"] == 0.0 and fault["time_to_first_failure_s"] is None
    assert fault["availability"] == 1.0 and fault["stayed_up"] == ["GET /products", "POST /orders"]


def test_the_next_fault_ends_the_previous_ones_evaluation() -> None:
    frame = samples((10.0, 30.0), {"GET /products"})  # fails past the second fault's start
    result = section(frame, [_event("kill", "a", 10.0, 12.0), _event("kill", "b", 20.0, 22.0)])
    first, second = result["faults"]
    assert first["time_to_recover_s"] is None  # still failing when the next fault came
    assert first["impact_s"] == [10.0, 19.0]  # up to a second before the next fault
    assert second["event"]["instance"] == "b"


def test_error_budget_counts_failures_until_recovery_against_the_objective() -> None:
    frame = samples((10.0, 12.0), {"GET /products", "POST /orders"})
    result = section(frame, [_event("kill", "app", 10.0, 12.0)])
    fault = result["faults"][0]
    measured = 2 * RATE * (LOAD_S - 2)
    assert fault["error_budget_consumed"] == pytest.approx(2 * 2 * RATE / (0.001 * measured))


def test_orders_are_counted_jepsen_style_per_fault_window() -> None:
    orders = {5.0: "o-before", 10.2: "o-lost", 10.4: "o-stuck", 10.6: "o-ok", 10.8: "o-ok"}
    frame = samples((11.0, 12.0), {"POST /orders"}, orders=orders)
    result = section(frame, [_event("kill", "orders", 10.0, 12.0)],
                     lost_ids=frozenset({"o-lost"}), stuck_ids=frozenset({"o-stuck"}), orders_created=5)
    counted = result["faults"][0]["orders"]
    assert counted["acknowledged"] == 4 and counted["lost"] == 1 and counted["stuck"] == 1
    assert counted["stuck_ids"] == ["o-stuck"] and counted["duplicated"] == 1  # o-ok acked twice
    assert counted["indeterminate"] == RATE  # connection failures got no answer: maybe created
    assert counted["failed"] == 0
    assert result["indeterminate"] == RATE
    assert result["created_unacknowledged"] == 5 - (4 - 1)  # distinct acked ids 4, one lost


def test_unchecked_integrity_never_reports_zero_lost() -> None:
    frame = samples((10.0, 12.0), {"POST /orders"}, orders={10.5: "o"})
    counted = section(frame, [_event("kill", "orders", 10.0, 12.0)])["faults"][0]["orders"]
    assert counted["lost"] is None and counted["stuck"] is None


def test_dropped_arrivals_are_failures_of_their_endpoint() -> None:
    frame = samples((0, 0), set())
    dropped = pd.DataFrame({"intended_s": T0 + np.linspace(10.0, 10.9, 50), "name": ["POST /orders"] * 50})
    fault = section(frame, [_event("pause", "postgres", 10.0, 11.0)], dropped=dropped)["faults"][0]
    orders = next(e for e in fault["endpoints"] if e["name"] == "POST /orders")
    assert orders["failures"] == 50 and orders["failure_classes"] == {"dropped": 50}


def test_an_unapplied_fault_is_reported_and_does_not_count() -> None:
    event = _event("kill", "app", 10.0, None)
    event["at_s"] = event["offset_s"] = None
    event["error"] = "app: boom"
    result = section(samples((0, 0), set()), [event])
    assert result["verdict"] == "not measured"
    assert result["faults"][0]["summary"] == "not applied: app: boom"


def test_recovery_second_needs_the_rest_of_the_window_in_band() -> None:
    good = np.array([True, False, True, False, True, True])
    assert recovery_second(good, 0, 6) == 4
    assert recovery_second(good, 0, 4) is None
    assert recovery_second(np.ones(3, bool), 1, 3) == 1


def test_the_band_comes_from_the_healthy_seconds_before_the_first_fault() -> None:
    frame = samples((0, 0), set())
    result = section(frame, [_event("kill", "app", 12.0, 13.0)])
    assert result["baseline_s"] == [2.0, 12.0]
    assert result["band"]["error_rate"] == pytest.approx(0.02)
    assert result["band"]["p99_ms"] == pytest.approx(5.0 + 100.0)
    assert verdict_of([]) == ("not measured", ["no fault was applied"])
