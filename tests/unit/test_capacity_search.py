"""The capacity search and its SLO verdicts, on simulated targets (pure, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.capacity.search import CapacitySearch, SearchSettings, StepOutcome
from harness.capacity.slo import judge_step, parse_slo, step_verdict
from harness.errors import ConfigError


def _run(search: CapacitySearch, knee: float, generator_ceiling: float = float("inf"),
         unclear_band: float = 0.0) -> CapacitySearch:
    while (rate := search.next_rate()) is not None:
        if abs(rate - knee) < unclear_band:
            verdict = "unclear"
        else:
            verdict = "holds" if rate < knee else "breaks"
        search.record(StepOutcome(rate, verdict, generator_limited=rate > generator_ceiling))
    return search


@pytest.mark.parametrize("knee", [37.0, 130.0, 999.0, 5_000.0])
def test_search_brackets_the_knee_within_tolerance(knee: float) -> None:
    search = _run(CapacitySearch(SearchSettings(start_rate=50, tolerance=0.05, max_steps=30)), knee)
    result = search.result()
    assert result.kind == "bracketed"
    assert result.low is not None and result.high is not None
    assert result.low < knee <= result.high
    assert (result.high - result.low) / result.low <= 0.05


def test_first_step_breaking_ramps_down_then_reports_below_the_lowest_rate() -> None:
    result = _run(CapacitySearch(SearchSettings(start_rate=8, min_rate=2)), knee=0.5).result()
    assert result.kind == "below_lowest" and result.capacity is None
    assert "below the lowest rate tried (2/s)" in result.describe()


def test_never_breaking_up_to_the_ceiling_is_at_least() -> None:
    result = _run(CapacitySearch(SearchSettings(start_rate=50, max_rate=300)), knee=1e9).result()
    assert result.kind == "at_least" and result.capacity == 300 and result.generator_limited
    assert result.describe().startswith("at least 300/s")


def test_a_generator_limited_step_ends_the_search_with_at_least() -> None:
    search = _run(CapacitySearch(SearchSettings(start_rate=50)), knee=1e9, generator_ceiling=150)
    result = search.result()
    assert result.kind == "at_least" and result.generator_limited
    assert result.capacity == 100  # the last rate the generator could drive


def test_an_unclear_step_is_repeated_then_counts_as_broken() -> None:
    search = _run(CapacitySearch(SearchSettings(start_rate=100, tolerance=0.05, max_steps=40)),
                  knee=300, unclear_band=20)
    rates = [o.rate for o in search.outcomes]
    repeated = [r for r, nxt in zip(rates, rates[1:], strict=False) if r == nxt]
    assert repeated, "an unclear step must be tried again"
    result = search.result()
    assert result.low is not None and result.low <= 300  # never optimistic


def test_step_budget_is_respected() -> None:
    search = _run(CapacitySearch(SearchSettings(start_rate=1, max_steps=4)), knee=1e6)
    assert len(search.outcomes) == 4


@pytest.mark.parametrize("bad", [{"growth": 1.0}, {"tolerance": 0}, {"start_rate": -1}, {"max_steps": 1}])
def test_bad_settings_name_the_key(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=f"capacity.{next(iter(bad))}"):
        SearchSettings(**bad)  # type: ignore[arg-type]


def _step(latencies: np.ndarray, ok: np.ndarray | None = None, seconds: int = 30):  # type: ignore[no-untyped-def]
    starts = np.linspace(0, seconds, latencies.size, endpoint=False)
    return starts, latencies, np.ones(latencies.size, bool) if ok is None else ok


def test_slo_holds_breaks_and_is_unclear_near_the_limit() -> None:
    rng = np.random.default_rng(1)
    slos = parse_slo(["p99 < 200ms", "error_rate < 1%"])
    fast = _step(rng.exponential(20.0, 30_000))  # p99 ~ 92 ms
    checks = judge_step(slos, *fast, window=(0, 30))
    assert [c.verdict for c in checks] == ["holds", "holds"] and step_verdict(checks) == "holds"
    slow = _step(rng.exponential(60.0, 30_000))  # p99 ~ 276 ms
    assert step_verdict(judge_step(slos, *slow, window=(0, 30))) == "breaks"
    edge = _step(rng.exponential(200.0 / 4.605, 3_000))  # p99 right at 200 ms
    assert judge_step(slos[:1], *edge, window=(0, 30))[0].verdict == "unclear"


def test_dropped_arrivals_count_as_failures() -> None:
    slos = parse_slo(["error_rate < 1%"])
    step = _step(np.full(1_000, 5.0))
    assert judge_step(slos, *step, window=(0, 30))[0].verdict == "holds"
    checks = judge_step(slos, *step, window=(0, 30), dropped=100)
    assert checks[0].measured == pytest.approx(100 / 1_100) and checks[0].verdict == "breaks"


@pytest.mark.parametrize("bad", ["p99 > 200ms", "rps < 5", "monolith: p99 < 1s", "lost == 0"])
def test_an_slo_must_be_an_upper_bound_on_latency_or_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="SLO"):
        parse_slo([bad])
