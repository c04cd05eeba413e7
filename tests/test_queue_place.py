"""The customer's place in the queue and the wait they are told (issue 17, point 1):
the hand-over message says "you are number 3" with an estimate from the agents at
their desk, their free capacity and the team's measured handling time
(rules/wait_estimate.py, selectors/queue_place.py)."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from handoff.models import (
    AgentPresence,
    AgentSeat,
    Conversation,
    ConversationEvent,
    Message,
    Team,
)
from handoff.rules.wait_estimate import (
    DEFAULT_HANDLING_SECONDS,
    HIGH,
    Estimate,
    chance_within,
    erlang_cdf,
    erlang_quantile,
    estimate,
)
from handoff.rules.wait_wording import wait_text
from handoff.selectors import queue_place
from handoff.services.conversations import escalate
from tests.support.factories import customer_wrote, make_conversation
from tests.support.texts import handover_text

State = Conversation.State
NOW = datetime(2027, 1, 13, 3, 0, tzinfo=UTC)


# --- The model ---------------------------------------------------------------------


def test_a_customer_with_a_free_slot_ahead_of_them_waits_for_no_one():
    assert estimate(position=2, free=2, slots=4, handling_seconds=600).now
    assert not estimate(position=3, free=2, slots=4, handling_seconds=600).now


def test_no_agent_at_their_desk_promises_no_wait():
    assert estimate(position=1, free=0, slots=0, handling_seconds=600) is None


def test_the_range_is_the_erlang_times_tenth_to_ninetieth_percentile():
    # One slot to free among one: an exponential time, whose quantiles are known.
    one = estimate(position=1, free=0, slots=1, handling_seconds=600)
    assert one.low == pytest.approx(-600 * math.log(0.9), rel=1e-6)
    assert one.high == pytest.approx(-600 * math.log(0.1), rel=1e-6)
    # Three to free among two slots: the third freeing of a rate-2/600 process.
    three = estimate(position=5, free=2, slots=2, handling_seconds=600)
    assert erlang_cdf(3, 2 / 600, three.low) == pytest.approx(0.1, abs=1e-6)
    assert erlang_cdf(3, 2 / 600, three.high) == pytest.approx(0.9, abs=1e-6)


def test_a_long_queue_is_estimated_by_the_cube_root_approximation_close_to_the_series():
    exact = erlang_quantile(100, 1 / 60, 0.9)
    approximate = erlang_quantile(101, 1 / 60, 0.9)

    assert approximate > exact  # one more to wait for
    assert approximate == pytest.approx(exact * 101 / 100, rel=0.01)


@pytest.mark.parametrize(
    ("told", "language", "expected"),
    [
        (None, "en", "not known yet"),
        (None, "ja", "未定"),
        (Estimate(0, 0), "en", "under a minute"),
        (Estimate(63, 1381), "en", "up to 25 minutes"),
        (Estimate(130, 470), "en", "about 2 to 8 minutes"),
        (Estimate(130, 470), "ja", "2〜8分ほど"),
        (Estimate(700, 1900), "ja", "10〜35分ほど"),
        (Estimate(3 * 3600, 9 * 3600 + 1), "en", "about 3 to 10 hours"),
        (Estimate(130, 470), "pt-br", "2–8 min"),
    ],
)
def test_the_wait_reads_as_a_rounded_range_in_the_customers_language(told, language, expected):
    assert wait_text(told, language) == expected


# --- On the desk ---------------------------------------------------------------------


def at_desk(username: str, *, capacity: int, team: Team | None = None):
    agent = get_user_model().objects.create_user(username)
    agent.groups.add(Group.objects.get(name="Agents"))
    AgentSeat.objects.create(agent=agent, capacity=capacity)
    AgentPresence.objects.create(agent=agent, channel_name=f"{username}-socket", seen_at=NOW)
    if team is not None:
        team.members.add(agent)
    return agent


def waiting(minutes_ago: int, team: Team | None = None) -> Conversation:
    moment = NOW - timedelta(minutes=minutes_ago)
    return make_conversation(state=State.WAITING, escalated_at=moment, team=team)


def handled(count: int, minutes: float, team: Team | None = None) -> None:
    """`count` conversations resolved lately, each `minutes` from assignment."""
    for n in range(count):
        resolved = NOW - timedelta(hours=n + 1)
        make_conversation(
            state=State.RESOLVED,
            team=team,
            assigned_at=resolved - timedelta(minutes=minutes),
            resolved_at=resolved,
        )


def hand_over(text: str = "agent please", **extra) -> Conversation:
    conversation = customer_wrote(text, **extra)
    escalate(conversation_id=conversation.pk, kind="keyword", detail="agent", now=NOW)
    return conversation


def told(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, direction="out").values_list(
            "text", flat=True
        )
    )


@pytest.mark.django_db
def test_a_customer_handed_over_behind_two_others_is_told_they_are_third_with_a_wait():
    aiko = at_desk("aiko", capacity=1)
    make_conversation(state=State.ASSIGNED, assignee=aiko, assigned_at=NOW)  # she is full
    waiting(minutes_ago=9)
    waiting(minutes_ago=4)
    handled(6, minutes=10)

    conversation = hand_over()

    expected = estimate(position=3, free=0, slots=1, handling_seconds=600)
    assert told(conversation) == [handover_text(position=3, wait=expected)]
    assert "number 3 in the queue, and the wait is about" in told(conversation)[0]
    event = ConversationEvent.objects.get(conversation=conversation, kind="escalated")
    assert event.data["queue_position"] == 3
    assert event.data["wait_told"] == [round(expected.low), round(expected.high)]


@pytest.mark.django_db
def test_a_japanese_customer_is_told_their_place_in_japanese():
    aiko = at_desk("aiko", capacity=1)
    make_conversation(state=State.ASSIGNED, assignee=aiko, assigned_at=NOW)
    waiting(minutes_ago=9)
    waiting(minutes_ago=4)
    handled(6, minutes=10)

    conversation = hand_over("担当者と話したい")

    expected = estimate(position=3, free=0, slots=1, handling_seconds=600)
    assert told(conversation) == [handover_text(position=3, wait=expected, language="ja")]
    assert "現在3番目にお待ちいただいており" in told(conversation)[0]


@pytest.mark.django_db
def test_the_line_is_the_teams_and_no_teams_older_hand_overs_and_its_agents_slots():
    billing, shipping = Team.objects.create(name="Billing"), Team.objects.create(name="Shipping")
    at_desk("aiko", capacity=2, team=billing)
    at_desk("ben", capacity=3, team=shipping)
    waiting(minutes_ago=9, team=billing)
    waiting(minutes_ago=8, team=shipping)  # other agents serve it
    waiting(minutes_ago=7)  # no team: every agent's, aiko's too
    mine = waiting(minutes_ago=1, team=billing)
    waiting(minutes_ago=0, team=billing)  # behind

    place = queue_place.place_of(mine, now=NOW)

    assert place.position == 3
    assert place.estimate == estimate(
        position=3, free=2, slots=2, handling_seconds=DEFAULT_HANDLING_SECONDS
    )


@pytest.mark.django_db
def test_the_handling_time_is_the_teams_own_else_everyones_else_the_default():
    billing = Team.objects.create(name="Billing")

    assert queue_place.handling_seconds(billing.pk, now=NOW) == 600.0
    handled(5, minutes=20)
    assert queue_place.handling_seconds(billing.pk, now=NOW) == pytest.approx(1200)
    handled(5, minutes=4, team=billing)
    assert queue_place.handling_seconds(billing.pk, now=NOW) == pytest.approx(240)


@pytest.mark.parametrize("position, free", [(1, 0), (4, 1), (30, 2), (150, 0)])
def test_the_chance_reaches_the_high_end_s_share_exactly_at_the_high_end(position, free):
    wait = estimate(position=position, free=free, slots=3, handling_seconds=600)

    def chance(seconds):
        return chance_within(
            position=position, free=free, slots=3, handling_seconds=600, seconds=seconds
        )

    assert chance(wait.high) == pytest.approx(HIGH, abs=1e-3)
    assert chance(wait.high * 1.01) >= HIGH > chance(wait.high * 0.99)
    assert chance_within(position=1, free=0, slots=0, handling_seconds=600, seconds=1e9) is None
    assert chance_within(position=1, free=1, slots=1, handling_seconds=600, seconds=0) == 1.0
