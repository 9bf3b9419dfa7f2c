"""The capacity search: which arrival rate to try next, and what the steps add up to (pure).

An exponential ramp from ``start_rate`` (times ``growth`` per step) brackets the knee:
the last rate that held the SLO and the first that broke it. Bisection then narrows the
bracket until its width is within ``tolerance`` of the lower end, or the step budget
is spent. A step whose verdict is unclear is repeated (``repeats``); still unclear, it
counts as broken (a capacity figure must not be optimistic). A step the generator could
not drive (late or dropped arrivals, saturated CPU) ends the search with an "at least"
result: beyond that point the generator, not the target, is measured.

``capacity`` is the highest rate that held; ``low``/``high`` bracket the true knee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.capacity.slo import Verdict
from harness.errors import ConfigError

Kind = Literal["bracketed", "at_least", "below_lowest"]


@dataclass(frozen=True)
class SearchSettings:
    """How the search walks; rates in requests/s."""

    start_rate: float = 50.0
    growth: float = 2.0  # ramp factor while every step holds
    tolerance: float = 0.10  # stop when (high - low) / low <= tolerance
    max_steps: int = 12  # steps in all, repeats included
    max_rate: float = 0.0  # never offer more (the generator's ceiling); 0: no cap
    repeats: int = 1  # extra tries of an unclear step before it counts as broken
    min_rate: float = 1.0  # the ramp goes down no further when the first step breaks

    def __post_init__(self) -> None:
        for name, value, ok in (("start_rate", self.start_rate, self.start_rate > 0),
                                ("growth", self.growth, self.growth > 1),
                                ("tolerance", self.tolerance, 0 < self.tolerance < 1),
                                ("max_steps", self.max_steps, self.max_steps >= 2),
                                ("max_rate", self.max_rate, self.max_rate >= 0),
                                ("repeats", self.repeats, self.repeats >= 0),
                                ("min_rate", self.min_rate, 0 < self.min_rate <= self.start_rate)):
            if not ok:
                raise ConfigError(f"capacity.{name} = {value!r} is out of range "
                                  "(start_rate > 0, growth > 1, 0 < tolerance < 1, max_steps >= 2, "
                                  "max_rate >= 0, repeats >= 0, 0 < min_rate <= start_rate)")


@dataclass(frozen=True)
class StepOutcome:
    """What one step showed: the offered rate, its SLO verdict, whether the generator kept up."""

    rate: float
    verdict: Verdict
    generator_limited: bool = False


@dataclass(frozen=True)
class Capacity:
    """The search's answer; rates in requests/s (None where no step supports a figure)."""

    kind: Kind
    capacity: float | None  # highest rate that held the SLO
    low: float | None  # the knee lies between low and high
    high: float | None
    generator_limited: bool
    steps: int
    reason: str  # one sentence for people

    def describe(self) -> str:
        """The result as a person reads it."""
        if self.kind == "below_lowest":
            return f"below the lowest rate tried ({self.high:g}/s): {self.reason}"
        if self.kind == "at_least":
            return f"at least {self.capacity:g}/s ({self.reason})"
        return f"{self.capacity:g}/s (knee between {self.low:g} and {self.high:g}/s)"


@dataclass
class CapacitySearch:
    """The state of one search: ask ``next_rate``, run it, ``record`` what it showed."""

    settings: SearchSettings = field(default_factory=SearchSettings)
    outcomes: list[StepOutcome] = field(default_factory=list)
    held: float | None = None  # highest rate that held
    broke: float | None = None  # lowest rate that broke
    _unclear_tries: int = 0
    _done: Capacity | None = None

    def next_rate(self) -> float | None:
        """The next rate to offer, or None when the search is over (see ``result``)."""
        if self._done is not None:
            return None
        if len(self.outcomes) >= self.settings.max_steps:
            self._done = self._finish("the step budget (capacity.max_steps) is spent")
            return None
        if self._unclear_tries:
            return self.outcomes[-1].rate
        rate = self._candidate()
        if rate is None:
            return None
        return rate

    def record(self, outcome: StepOutcome) -> None:
        """Take in what the step at ``outcome.rate`` showed."""
        self.outcomes.append(outcome)
        verdict = outcome.verdict
        if verdict == "unclear" and self._unclear_tries < self.settings.repeats:
            self._unclear_tries += 1
            return
        self._unclear_tries = 0
        if outcome.generator_limited:  # the rate was not really offered: it proves nothing
            self._done = self._finish(f"the generator could not keep the schedule at "
                                      f"{outcome.rate:g}/s", limited=True)
        elif verdict == "holds":
            self.held = max(self.held or 0.0, outcome.rate)
        else:  # broke, or still unclear: not a rate the target holds
            self.broke = outcome.rate if self.broke is None else min(self.broke, outcome.rate)

    def result(self) -> Capacity:
        """The answer so far (final once ``next_rate`` returned None)."""
        return self._done or self._finish("the search was stopped early")

    def _candidate(self) -> float | None:
        settings = self.settings
        if not self.outcomes:
            return _capped(settings.start_rate, settings)
        if self.broke is None:  # ramping up: everything held
            assert self.held is not None
            if settings.max_rate and self.held >= settings.max_rate:
                self._done = self._finish("the SLO held up to the generator's ceiling "
                                          "(capacity.max_rate)", limited=True)
                return None
            return _capped(self.held * settings.growth, settings)
        if self.held is None:  # the first steps broke: ramp down
            lower = self.broke / settings.growth
            if lower < settings.min_rate:
                self._done = self._finish("even the lowest rate broke the SLO")
                return None
            return lower
        if (self.broke - self.held) / self.held <= settings.tolerance:
            self._done = self._finish("bracketed within capacity.tolerance")
            return None
        return (self.held + self.broke) / 2

    def _finish(self, reason: str, limited: bool = False) -> Capacity:
        steps = len(self.outcomes)
        if self.held is None:
            return Capacity("below_lowest", None, None, self.broke, limited, steps, reason)
        if self.broke is None or limited:
            return Capacity("at_least", self.held, self.held, self.broke, limited, steps, reason)
        return Capacity("bracketed", self.held, self.held, self.broke, limited, steps, reason)


def _capped(rate: float, settings: SearchSettings) -> float:
    return min(rate, settings.max_rate) if settings.max_rate else rate
