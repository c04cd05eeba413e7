"""How long a customer handed over will wait for an agent, told as a range.

The model is the M/M/c queue's (the one Erlang C describes), taken from the state the
desk is in now rather than from long-run averages. The agents who can serve the
customer hold `slots` conversations between them (their capacities, online and
available); `free` of those are empty; each busy slot frees after a time with the
team's measured mean handling time, memoryless. A customer at position k takes a
free slot at once when k <= free; otherwise m = k - free slots must free first. While
the queue ahead is served the slots stay full, so they free at rate slots / handling
time, and the wait is the time to the m-th freeing: an Erlang(m, slots / handling)
time. The range told is its 10th to 90th percentile, so that about 8 customers in
10 are served within it when the model holds (the replayed day checks how often they
are: docs/benchmarks.md).

Why not Erlang C's formula itself: it gives the wait of a customer arriving at a
random moment, averaged over how long the queue might be. Here the length of the
queue ahead is known, which is exactly the condition Erlang C averages over; the
conditional wait is this Erlang time.

Pure: no models, no clock.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from handoff.rules.assignment import FreeAgent, eligible

LOW, HIGH = 0.1, 0.9  # the percentiles of the range told
# Above this many slots to free, the Erlang quantile is taken by Wilson and
# Hilferty's cube-root approximation (within 0.1 % there), not by summing the series.
EXACT_UP_TO = 100
# The standard normal's quantiles for LOW and HIGH.
NORMAL_QUANTILE = {LOW: -1.2815515655446004, HIGH: 1.2815515655446004}
# How many handling times make a measure, and the handling time without one.
HANDLING_MIN_SAMPLE = 5
DEFAULT_HANDLING_SECONDS = 600.0


@dataclass(frozen=True)
class Estimate:
    """A wait in seconds: likely between `low` and `high`; `now` when a slot is free."""

    low: float
    high: float

    @property
    def now(self) -> bool:
        return self.high == 0


def estimate(*, position: int, free: int, slots: int, handling_seconds: float) -> Estimate | None:
    """The wait of the customer at `position` (1 = next); None when no agent who could
    serve them is at their desk (no slot at all), so no wait can be promised."""
    if slots <= 0 or handling_seconds <= 0:
        return None
    ahead = max(position, 1) - max(free, 0)
    if ahead <= 0:
        return Estimate(0.0, 0.0)
    rate = slots / handling_seconds
    return Estimate(erlang_quantile(ahead, rate, LOW), erlang_quantile(ahead, rate, HIGH))


def chance_within(
    *, position: int, free: int, slots: int, handling_seconds: float, seconds: float
) -> float | None:
    """The chance that the customer at `position` is served within `seconds`: what
    the serving order weighs their WhatsApp window against (rules/queue_order.py). At
    least HIGH exactly when `seconds` is at or past the high end of the range they
    are told. One sum at most, no search for a quantile, so it is cheap enough to ask
    for every waiting customer every poll. None when no slot serves them."""
    if slots <= 0 or handling_seconds <= 0:
        return None
    ahead = max(position, 1) - max(free, 0)
    if ahead <= 0:
        return 1.0 if seconds >= 0 else 0.0
    rate = slots / handling_seconds
    if seconds * rate >= ahead + 10 * math.sqrt(ahead) + 10:
        return 1.0  # ten deviations past the mean: no sum needed (most customers)
    return erlang_cdf(ahead, rate, seconds)


@dataclass(frozen=True)
class Desk:
    """The slots that serve one line now (the capacities of the agents at their desk
    who may take its conversations, and how many are empty) and its handling time."""

    free: int
    slots: int
    handling_seconds: float

    @classmethod
    def of(
        cls, serving: Iterable[FreeAgent], *, team_id: int | None, handling_seconds: float
    ) -> "Desk":
        agents = eligible(serving, team_id=team_id, passed_over=None)
        return cls(
            free=sum(max(agent.room, 0) for agent in agents),
            slots=sum(agent.capacity for agent in agents),
            handling_seconds=handling_seconds,
        )

    def estimate(self, position: int) -> Estimate | None:
        return estimate(
            position=position,
            free=self.free,
            slots=self.slots,
            handling_seconds=self.handling_seconds,
        )

    def chance_within(self, position: int, seconds: float) -> float | None:
        return chance_within(
            position=position,
            free=self.free,
            slots=self.slots,
            handling_seconds=self.handling_seconds,
            seconds=seconds,
        )


def mean_handling(spans: Sequence[float]) -> float | None:
    """The mean handling time of these resolved conversations (seconds from
    assignment to resolution), or None when they are too few to be a measure."""
    if len(spans) < HANDLING_MIN_SAMPLE:
        return None
    return max(sum(spans) / len(spans), 1.0)


def erlang_cdf(shape: int, rate: float, t: float) -> float:
    """P(the sum of `shape` exponential times of `rate` <= t): one minus the Poisson
    probability of fewer than `shape` events by t, summed in log space (past
    EXACT_UP_TO, the cube-root approximation)."""
    if t <= 0:
        return 0.0
    x = rate * t
    if shape > EXACT_UP_TO:
        # Wilson and Hilferty, as erlang_quantile: the two agree at LOW and HIGH.
        ninth = 1 / (9 * shape)
        z = ((x / shape) ** (1 / 3) - (1 - ninth)) / math.sqrt(ninth)
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))
    log_terms = [-x + i * math.log(x) - math.lgamma(i + 1) for i in range(shape)]
    top = max(log_terms)
    below = math.exp(top) * sum(math.exp(term - top) for term in log_terms)
    return max(0.0, 1.0 - below)


def erlang_quantile(shape: int, rate: float, fraction: float) -> float:
    """The time by which the `shape`-th event has come with probability `fraction`."""
    if shape > EXACT_UP_TO and fraction in NORMAL_QUANTILE:
        ninth = 1 / (9 * shape)
        cube = 1 - ninth + NORMAL_QUANTILE[fraction] * math.sqrt(ninth)
        return shape / rate * cube**3
    low, high = 0.0, (shape + 10 * math.sqrt(shape) + 10) / rate
    while erlang_cdf(shape, rate, high) < fraction:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if erlang_cdf(shape, rate, middle) < fraction:
            low = middle
        else:
            high = middle
    return high
