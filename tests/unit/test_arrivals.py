"""The open-model schedule: intended arrival times, divided exactly over generator processes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scenarios.plan import Stage, arrival_offsets, is_open_model, planned_rate, stage_label


def _open(*pairs: tuple[float, float]) -> tuple[Stage, ...]:
    return tuple(Stage(duration=d, users=0, rate=r) for d, r in pairs)


def test_constant_arrivals_are_evenly_spaced_and_counted_exactly() -> None:
    times = list(arrival_offsets(_open((10.0, 30.0))))
    assert len(times) == 300
    assert np.allclose(np.diff(times), 1 / 30)
    assert times[0] == 0.0 and times[-1] < 10.0


@pytest.mark.parametrize("processes", [1, 2, 3, 7])
def test_processes_share_the_schedule_exactly_without_drift(processes: int) -> None:
    stages = _open((3.0, 101.0), (2.0, 17.5))  # rates that do not divide by the process count
    single = list(arrival_offsets(stages))
    shares = [list(arrival_offsets(stages, index=i, processes=processes))
              for i in range(processes)]
    merged = sorted(itertools.chain.from_iterable(shares))
    assert merged == pytest.approx(single)
    assert len(single) == 3 * 101 + 35


def test_stage_boundaries_change_the_rate_without_a_gap() -> None:
    times = np.array(list(arrival_offsets(_open((2.0, 10.0), (2.0, 50.0)))))
    assert np.sum(times < 2.0) == 20 and np.sum(times >= 2.0) == 100


def test_poisson_arrivals_have_the_rate_and_exponential_gaps() -> None:
    stages = _open((200.0, 50.0))
    shares = [np.array(list(arrival_offsets(stages, index=i, processes=2, poisson=True, seed=3)))
              for i in range(2)]
    merged = np.sort(np.concatenate(shares))
    assert len(merged) == pytest.approx(10_000, rel=0.05)
    gaps = np.diff(merged)
    assert gaps.mean() == pytest.approx(1 / 50, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.1)  # exponential: CV = 1
    again = np.array(list(arrival_offsets(stages, index=0, processes=2, poisson=True, seed=3)))
    assert np.array_equal(again, shares[0])  # seeded: repeatable


def test_bad_process_index_is_refused() -> None:
    with pytest.raises(ValueError, match="index 2"):
        next(arrival_offsets(_open((1.0, 1.0)), index=2, processes=2))


def test_open_model_helpers() -> None:
    stages = _open((2.0, 10.0), (1.0, 40.0))
    assert is_open_model(stages) and not is_open_model((Stage(),))
    assert planned_rate(stages, 4) == [10.0, 10.0, 40.0, 0.0]
    assert stage_label(stages, 2.5) == "2/2 (40/s)"
