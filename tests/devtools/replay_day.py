"""The replayed day (issue 17, point 5): a discrete-event simulation of the queue,
driven through handoff's own rules with an injected clock, nothing waiting in real time.

What is real and what is modelled:

* **Real**: the serving order (rules/queue_order.py: oldest first, or those at risk of
  their WhatsApp window first), the agent chosen (rules/assignment.py's `eligible` and
  `ranked` over `FreeAgent`s), the place and the wait a customer is told
  (rules/wait_estimate.py's `Desk`, rounded outward as the customer reads it:
  rules/wait_wording.told_range), the handling time they are estimated from (the mean
  of the latest 200 resolved, rules/wait_estimate.mean_handling) and the window
  (rules/service_window.WINDOW). The database-backed assigner, Waiting list and place
  read the same order from SQL (tests/test_window_order.py proves the two orders equal),
  so what is replayed here is what the product decides.
* **Modelled**: customers handed over as a Poisson stream (constant, or following an
  hour-of-day curve), a share of them arriving with little of their window left (a bot
  conversation taken over late, a chat returned by the reply timer); c agents of
  capacity 1 at their desk all day; handling times exponential with a stated mean; an
  agent's first reply at the moment they take the conversation, so the first response
  after hand-over is the wait in the queue, the quantity Erlang C predicts.

It prints, for oldest-first (FIFO) and for the window-aware order: the first response
after hand-over (p50, p90) beside Erlang C's prediction for the same arrival rate,
handling rate and c; the windows that lapsed while waiting; and the share of customers
served within the range they were told. Two replays: **steady** (a constant rate over
many days and no short windows: exactly Erlang C's assumptions, so the p90 must come
within 10 % of its prediction), **a day** (the hour-of-day curve, peaks above what
the desk can serve, 5 % of customers with 15 to 90 minutes of window left), and **an
overloaded day** (peaks 50 % above, 10 % short windows: not every window can be saved,
and the order must not lose the savable ones to the hopeless).

Run: `python -m tests.devtools.replay_day` (`make bench` runs it too; docs/benchmarks.md).
The same seed gives the same figures on every machine: the replay measures decisions,
not speed.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handoff.rules.assignment import FreeAgent, eligible, ranked
from handoff.rules.queue_order import InLine, deadlines, serving_key
from handoff.rules.service_window import WINDOW
from handoff.rules.wait_estimate import DEFAULT_HANDLING_SECONDS, Desk, mean_handling
from handoff.rules.wait_wording import told_range
from tests.devtools.bench_figures import TargetCheck

START = datetime(2027, 1, 13, tzinfo=UTC)  # the replay's midnight; any date would do
HANDLING_SAMPLE = 200  # as selectors/queue_place.HANDLING_SAMPLE
HOUR = 3600.0

# Hand-overs per hour across a day, as a share of the day's mean: quiet nights, a
# morning and an afternoon peak (a retailer's support desk).
DAY_CURVE = (
    0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 2.0, 2.2, 2.0,
    1.6, 1.8, 2.1, 2.0, 1.6, 1.3, 1.1, 0.9, 0.7, 0.5, 0.35, 0.25,
)  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int
    mean_handling: float  # seconds, exponential
    mean_rate: float  # hand-overs per hour, averaged over the replay
    days: int
    curve: Sequence[float] | None  # None: a constant rate
    short_window_share: float  # customers who arrive with little window left
    short_window: tuple[float, float] = (15 * 60.0, 90 * 60.0)  # seconds left, uniform
    seed: int = 17

    def rate_at(self, t: float) -> float:
        """Hand-overs per second at `t` seconds into the replay."""
        share = 1.0 if self.curve is None else self.curve[int(t // HOUR) % 24]
        return self.mean_rate * share / HOUR


STEADY = Scenario(
    name="steady (Erlang C's assumptions)",
    agents=8,
    mean_handling=300.0,
    mean_rate=0.85 * 8 * HOUR / 300.0,  # 85 % of what eight agents serve: 81.6 an hour
    days=40,
    curve=None,
    short_window_share=0.0,
)
DAY = Scenario(
    name="a day (hour-of-day curve, 5 % short windows)",
    agents=8,
    mean_handling=300.0,
    mean_rate=50.0,  # 1,200 hand-overs; the peaks reach 110 an hour, above the 96 served
    days=1,
    curve=DAY_CURVE,
    short_window_share=0.05,
)


OVERLOAD = Scenario(
    name="an overloaded day (peaks 50 % above what the desk serves, 10 % short windows)",
    agents=8,
    mean_handling=300.0,
    mean_rate=65.0,  # the peaks reach 143 an hour against the 96 served
    days=1,
    curve=DAY_CURVE,
    short_window_share=0.10,
    seed=18,
)


@dataclass
class Customer:
    id: int
    handed_at: float  # seconds into the replay
    window_left: float  # seconds of WhatsApp window left at the hand-over
    handling: float  # seconds an agent spends on them once assigned
    told: tuple[float, float] | None = None
    place: int = 0
    served_at: float | None = None

    @property
    def wait(self) -> float:
        assert self.served_at is not None
        return self.served_at - self.handed_at

    @property
    def lapsed(self) -> bool:
        """Their window closed before an agent took them."""
        return self.served_at is None or self.served_at > self.handed_at + self.window_left

    @property
    def within_told(self) -> bool:
        return self.told is not None and self.told[0] <= self.wait <= self.told[1]


def arrivals(scenario: Scenario) -> list[Customer]:
    """The customers handed over: a Poisson stream by thinning at the peak rate."""
    rng = random.Random(scenario.seed)
    horizon = scenario.days * 24 * HOUR
    peak = max(scenario.rate_at(hour * HOUR) for hour in range(24))
    customers, t = [], 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= horizon:
            return customers
        if rng.random() * peak > scenario.rate_at(t):
            continue
        short = rng.random() < scenario.short_window_share
        customers.append(
            Customer(
                id=len(customers) + 1,
                handed_at=t,
                window_left=rng.uniform(*scenario.short_window)
                if short
                else WINDOW.total_seconds(),
                handling=rng.expovariate(1 / scenario.mean_handling),
            )
        )


@dataclass
class Outcome:
    scenario: Scenario
    window_aware: bool
    customers: list[Customer]
    erlang: ErlangC = field(init=False)

    def __post_init__(self):
        self.erlang = ErlangC(
            arrival_rate=len(self.customers) / (self.scenario.days * 24 * HOUR),
            handling_seconds=self.scenario.mean_handling,
            agents=self.scenario.agents,
        )

    def percentile(self, fraction: float) -> float:
        waits = sorted(c.wait for c in self.customers)
        return waits[min(len(waits) - 1, math.ceil(fraction * len(waits)) - 1)]

    @property
    def lapsed(self) -> int:
        return sum(c.lapsed for c in self.customers)

    @property
    def short_windows(self) -> int:
        return sum(c.window_left < WINDOW.total_seconds() for c in self.customers)

    @property
    def within_told(self) -> float:
        return sum(c.within_told for c in self.customers) / len(self.customers)

    @property
    def within_told_of_those_who_waited(self) -> float:
        waited = [c for c in self.customers if c.told and c.told[1] > 60]
        return sum(c.within_told for c in waited) / len(waited) if waited else float("nan")


def replay(scenario: Scenario, *, window_aware: bool, customers: list[Customer]) -> Outcome:
    """Serve `customers` (copies: the same stream replays under both orders)."""
    customers = [Customer(c.id, c.handed_at, c.window_left, c.handling) for c in customers]
    desk = _Desk(scenario.agents, window_aware=window_aware)
    upcoming = iter(customers)
    arriving = next(upcoming, None)
    while arriving is not None or desk.busy:
        frees_at = desk.busy[0][0] if desk.busy else math.inf
        if arriving is not None and arriving.handed_at < frees_at:
            desk.hand_over(arriving)
            arriving = next(upcoming, None)
        else:
            desk.free_next()
    assert not desk.waiting, "every customer is served once the arrivals stop"
    return Outcome(scenario, window_aware, customers)


class _Desk:
    """The agents and the queue, moved by the product's rules at each event."""

    def __init__(self, agents: int, *, window_aware: bool):
        self.window_aware = window_aware
        self.open = dict.fromkeys(range(1, agents + 1), 0)
        self.last_assigned: dict[int, datetime | None] = dict.fromkeys(self.open)
        self.busy: list[tuple[float, int, Customer]] = []  # (frees at, agent, customer)
        self.waiting: dict[int, Customer] = {}
        self.spans: deque[float] = deque(maxlen=HANDLING_SAMPLE)
        self.moved: dict[int, datetime] = {}  # the deadlines of those moved ahead
        self.now = 0.0

    def hand_over(self, customer: Customer) -> None:
        self.now = customer.handed_at
        self.waiting[customer.id] = customer
        order = self.order()
        customer.place = 1 + order.index(customer.id)
        estimate = self.desk().estimate(customer.place)
        customer.told = told_range(estimate) if estimate is not None else None
        self.serve()

    def free_next(self) -> None:
        frees_at, agent_id, customer = heapq.heappop(self.busy)
        self.now = frees_at
        self.open[agent_id] -= 1
        self.spans.append(customer.handling)
        self.serve()

    def serve(self) -> None:
        """As the assigner: while an agent is free, the first in the order to the
        agent the ranking picks."""
        while self.waiting:
            free = [agent for agent in self.agents() if agent.room > 0]
            if not free:
                return
            first = self.waiting.pop(self.order()[0])
            chosen = ranked(eligible(free, team_id=None, passed_over=None))[0]
            first.served_at = self.now
            self.open[chosen.agent_id] += 1
            self.last_assigned[chosen.agent_id] = self.moment()
            heapq.heappush(self.busy, (self.now + first.handling, chosen.agent_id, first))

    def order(self) -> list[int]:
        lines = [
            InLine(
                id=c.id,
                team_id=None,
                escalated_at=START + timedelta(seconds=c.handed_at),
                window_closes_at=START + timedelta(seconds=c.handed_at + c.window_left),
            )
            for c in self.waiting.values()
        ]
        if self.window_aware:
            # As services/window_priority.py keeps them: decided again at every event.
            desk = self.desk()
            self.moved = deadlines(
                lines,
                now=self.moment(),
                chance=lambda team_id, place, seconds: desk.chance_within(place, seconds),
                moved=self.moved,
            )
        order = sorted(
            lines,
            key=lambda e: serving_key(
                serve_by=self.moved.get(e.id), escalated_at=e.escalated_at, id=e.id
            ),
        )
        return [entry.id for entry in order]

    def agents(self) -> list[FreeAgent]:
        return [
            FreeAgent(
                agent_id=agent_id,
                username=f"agent{agent_id}",
                capacity=1,
                open_count=count,
                last_assigned_at=self.last_assigned[agent_id],
                team_ids=frozenset(),
            )
            for agent_id, count in self.open.items()
        ]

    def desk(self) -> Desk:
        handling = mean_handling(list(self.spans)) or DEFAULT_HANDLING_SECONDS
        return Desk.of(self.agents(), team_id=None, handling_seconds=handling)

    def moment(self) -> datetime:
        return START + timedelta(seconds=self.now)


@dataclass(frozen=True)
class ErlangC:
    """The M/M/c queue's waiting time: P(wait > t) = C(c, a) e^(-(cμ - λ) t)."""

    arrival_rate: float  # per second
    handling_seconds: float
    agents: int

    @property
    def chance_to_wait(self) -> float:
        a = self.arrival_rate * self.handling_seconds  # offered load, in agents
        c = self.agents
        if a >= c:
            return 1.0
        top = a**c / math.factorial(c) * c / (c - a)
        return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)

    def percentile(self, fraction: float) -> float:
        beyond = 1 - fraction
        decay = self.agents / self.handling_seconds - self.arrival_rate
        if decay <= 0:
            return math.inf
        if self.chance_to_wait <= beyond:
            return 0.0
        return math.log(self.chance_to_wait / beyond) / decay


@dataclass(frozen=True)
class Replayed:
    fifo: Outcome
    window_aware: Outcome


def run(scenario: Scenario) -> Replayed:
    stream = arrivals(scenario)
    return Replayed(
        fifo=replay(scenario, window_aware=False, customers=stream),
        window_aware=replay(scenario, window_aware=True, customers=stream),
    )


# -- the report --------------------------------------------------------------------------


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def table(replayed: Replayed) -> list[str]:
    scenario = replayed.fifo.scenario
    erlang = replayed.fifo.erlang
    rows = [
        f"### {scenario.name}",
        "",
        f"{len(replayed.fifo.customers):,} hand-overs over {scenario.days} day(s), "
        f"{scenario.agents} agents of capacity 1, handling exponential with mean "
        f"{minutes(scenario.mean_handling)}; {replayed.fifo.short_windows} arrived with "
        f"{minutes(scenario.short_window[0])} to {minutes(scenario.short_window[1])} of "
        f"window left. Erlang C at the mean rate ({erlang.arrival_rate * HOUR:.1f}/h, "
        f"load {erlang.arrival_rate * scenario.mean_handling / scenario.agents:.0%}): "
        f"chance to wait {erlang.chance_to_wait:.0%}.",
        "",
        "| order | first response p50 | p90 | Erlang C p50 | Erlang C p90 | p90 / Erlang C "
        "| windows lapsed waiting | served within the range told (of those who waited) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, outcome in (
        ("oldest first", replayed.fifo),
        ("window-aware", replayed.window_aware),
    ):
        p90 = outcome.percentile(0.9)
        predicted = erlang.percentile(0.9)
        rows.append(
            f"| {label} | {minutes(outcome.percentile(0.5))} | {minutes(p90)} "
            f"| {minutes(erlang.percentile(0.5))} | {minutes(predicted)} "
            f"| {f'{p90 / predicted:.3f}' if predicted > 0 else '-'} | {outcome.lapsed} "
            f"| {outcome.within_told:.1%} ({outcome.within_told_of_those_who_waited:.1%}) |"
        )
    return rows


def checks(steady: Replayed, day: Replayed) -> list[TargetCheck]:
    """The issue's acceptance, as `make bench` reports its targets."""
    p90, predicted = steady.fifo.percentile(0.9), steady.fifo.erlang.percentile(0.9)
    error = abs(p90 / predicted - 1)
    told = (("day window-aware", day.window_aware), ("day oldest first", day.fifo))
    return [
        TargetCheck(
            "replayed day: first response p90 within 10 % of Erlang C where its assumptions hold",
            f"{minutes(p90)} against {minutes(predicted)} ({error:.1%} off)",
            error <= 0.10,
        ),
        TargetCheck(
            "replayed day: no window lapses waiting with the window-aware order where "
            "oldest first lapses some",
            f"window-aware {day.window_aware.lapsed}, oldest first {day.fifo.lapsed}",
            day.window_aware.lapsed == 0 and day.fifo.lapsed > 0,
        ),
        TargetCheck(
            "replayed day: at least 80 % served within the range they were told",
            ", ".join(f"{name} {outcome.within_told:.1%}" for name, outcome in told),
            min(outcome.within_told for _, outcome in told) >= 0.80,
        ),
    ]


def replayed() -> tuple[list[str], list[TargetCheck]]:
    """Both replays: their tables (Markdown, for docs/benchmarks.md) and the checks."""
    steady, day, overload = run(STEADY), run(DAY), run(OVERLOAD)
    return [*table(steady), "", *table(day), "", *table(overload)], checks(steady, day)


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    lines, found = replayed()
    for line in lines:
        print(line)
    print()
    for check in found:
        print(f"[{'PASS' if check.passed else 'MISS'}] {check.name}: {check.measured}")
    return 0 if all(check.passed for check in found) else 1


if __name__ == "__main__":
    sys.exit(main())
