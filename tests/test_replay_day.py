"""The replayed day's own mechanics (tests/devtools/replay_day.py): Erlang C's
formula, and a replay small enough to follow by hand, so the figures `make bench`
prints come from a simulation that serves the customers as the product's rules say.
The figures themselves are measured, not tested (docs/benchmarks.md)."""

import math

import pytest

from handoff.rules.service_window import WINDOW
from tests.devtools.replay_day import STEADY, Customer, ErlangC, Scenario, arrivals, replay

ONE_AGENT = Scenario(
    name="by hand",
    agents=1,
    mean_handling=600.0,
    mean_rate=1.0,
    days=1,
    curve=None,
    short_window_share=0.0,
)
DAY = WINDOW.total_seconds()


def by_hand() -> list[Customer]:
    """One agent; A takes them for ten minutes; B and C wait with a full day of
    window; D, handed over last, has 15 minutes of window left."""
    return [
        Customer(id=1, handed_at=0.0, window_left=DAY, handling=600.0),
        Customer(id=2, handed_at=10.0, window_left=DAY, handling=300.0),
        Customer(id=3, handed_at=20.0, window_left=DAY, handling=300.0),
        Customer(id=4, handed_at=30.0, window_left=900.0, handling=300.0),
    ]


def served_order(outcome) -> list[int]:
    return [c.id for c in sorted(outcome.customers, key=lambda c: (c.served_at, c.id))]


def test_oldest_first_lets_the_short_window_lapse_and_the_window_aware_order_does_not():
    fifo = replay(ONE_AGENT, window_aware=False, customers=by_hand())
    aware = replay(ONE_AGENT, window_aware=True, customers=by_hand())

    assert served_order(fifo) == [1, 2, 3, 4]
    assert [c.served_at for c in fifo.customers] == [0.0, 600.0, 900.0, 1200.0]
    assert fifo.lapsed == 1  # D's window closed at 930 s; served at 1200 s
    assert served_order(aware) == [1, 4, 2, 3]
    assert aware.lapsed == 0


def test_each_customer_is_told_their_place_and_a_range_and_the_first_waits_for_no_one():
    outcome = replay(ONE_AGENT, window_aware=False, customers=by_hand())
    first, second, *_, last = outcome.customers

    assert (first.place, first.told, first.wait) == (1, (0.0, 60.0), 0.0)
    assert (second.place, last.place) == (1, 3)
    low, high = last.told
    assert low < high and high > 60


def test_no_more_customers_are_served_at_once_than_agents_and_each_exactly_once():
    scenario = Scenario(
        name="small",
        agents=3,
        mean_handling=300.0,
        mean_rate=30.0,
        days=1,
        curve=None,
        short_window_share=0.1,
    )
    stream = arrivals(scenario)
    outcome = replay(scenario, window_aware=True, customers=stream)

    assert len(outcome.customers) == len(stream) > 500
    assert all(c.served_at >= c.handed_at for c in outcome.customers)
    moments = sorted(
        [(c.served_at, 1) for c in outcome.customers]
        + [(c.served_at + c.handling, -1) for c in outcome.customers],
        key=lambda m: (m[0], m[1]),  # a freeing before a start at the same moment
    )
    busy = 0
    for _, step in moments:
        busy += step
        assert busy <= scenario.agents


def test_the_same_seed_replays_the_same_stream():
    assert [c.handed_at for c in arrivals(ONE_AGENT)] == [c.handed_at for c in arrivals(ONE_AGENT)]


def test_erlang_c_with_one_agent_is_the_m_m_1_queue():
    arrival, handling = 1 / 120, 60.0  # load one half
    erlang = ErlangC(arrival_rate=arrival, handling_seconds=handling, agents=1)

    assert erlang.chance_to_wait == pytest.approx(0.5)
    assert erlang.percentile(0.9) == pytest.approx(math.log(0.5 / 0.1) / (1 / 60 - 1 / 120))
    assert erlang.percentile(0.4) == 0.0  # more than 40 % never wait


def test_the_steady_replay_offers_erlang_c_a_load_it_can_serve():
    assert STEADY.mean_rate * STEADY.mean_handling / 3600 < STEADY.agents
