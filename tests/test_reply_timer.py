"""The reply timer (issue 15, part 4): who owes the customer a reply, the due time in
opening hours, the return to the queue with exactly-once firing, and the whole path on
the running server (the due time moved into the past stands in for minutes passing:
no test waits for the wall clock)."""

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff.models import (
    AgentPresence,
    Conversation,
    ConversationEvent,
    HandoffSettings,
    Schedule,
    Team,
    TopicRoute,
)
from handoff.rules.business_hours import BusinessHours, Interval
from handoff.rules.reply_timer import reply_due
from handoff.services import assignment, conversations, reply_timer, seats
from tests.conftest import wait_until
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import make_conversation, webhook_body

State = Conversation.State
MONDAY_9 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 9:00 in Tokyo
OFFICE = BusinessHours(
    time_zone="Asia/Tokyo", intervals=tuple(Interval(day, 9 * 60, 18 * 60) for day in range(5))
)


# --- Rules ------------------------------------------------------------------------------


def test_no_timer_nobody_waiting_or_nobody_assigned_means_no_due_time():
    now = MONDAY_9
    assert reply_due(waiting_since=now, assigned_at=now, minutes=None, hours=None) is None
    assert reply_due(waiting_since=None, assigned_at=now, minutes=5, hours=None) is None
    assert reply_due(waiting_since=now, assigned_at=None, minutes=5, hours=None) is None


def test_the_timer_counts_from_the_later_of_the_customers_wait_and_the_assignment():
    waited_an_hour = MONDAY_9 - timedelta(hours=1)
    due = reply_due(waiting_since=waited_an_hour, assigned_at=MONDAY_9, minutes=5, hours=None)
    assert due == MONDAY_9 + timedelta(minutes=5)
    wrote_later = MONDAY_9 + timedelta(minutes=2)
    due = reply_due(waiting_since=wrote_later, assigned_at=MONDAY_9, minutes=5, hours=None)
    assert due == wrote_later + timedelta(minutes=5)


def test_the_timer_counts_opening_hours_only():
    friday_1758 = datetime(2026, 12, 11, 8, 58, tzinfo=UTC)  # 17:58 in Tokyo
    due = reply_due(waiting_since=friday_1758, assigned_at=friday_1758, minutes=5, hours=OFFICE)
    assert due == datetime(2026, 12, 14, 0, 3, tzinfo=UTC)  # Monday 9:03 in Tokyo


# --- The service, with an injected clock ----------------------------------------------------


def agent(username, *, online=True):
    make_agent(username)
    user = get_user_model().objects.get(username=username)
    if online:
        AgentPresence.objects.create(agent=user, channel_name=f"test!{username}")
    return user


@pytest.fixture
def five_minutes(db):
    row = HandoffSettings.load()
    row.reply_timer_minutes = 5
    row.auto_assign = True
    row.save()
    return row


def assigned_to(user, *, waited_minutes=0, **fields) -> Conversation:
    since = timezone.now() - timedelta(minutes=waited_minutes)
    conversation = make_conversation(
        state=State.WAITING, escalated_at=since, waiting_since=since, **fields
    )
    conversations.claim(conversation_id=conversation.pk, agent=user)
    conversation.refresh_from_db()
    return conversation


def test_claiming_a_waiting_chat_starts_the_timer_and_a_reply_stops_it(agents_group, five_minutes):
    aiko = agent("aiko")
    conversation = assigned_to(aiko, waited_minutes=30)
    assert conversation.reply_due_at == conversation.assigned_at + timedelta(minutes=5)

    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hello!")
    conversation.refresh_from_db()
    assert (conversation.waiting_since, conversation.reply_due_at) == (None, None)

    # The customer writes again: the timer starts from their message.
    wrote = timezone.now()
    reply_timer.customer_waits(conversation.pk, since=wrote)
    conversation.refresh_from_db()
    assert conversation.reply_due_at == wrote + timedelta(minutes=5)
    # A second message before any reply does not push the due time back.
    reply_timer.customer_waits(conversation.pk, since=wrote + timedelta(minutes=2))
    conversation.refresh_from_db()
    assert conversation.reply_due_at == wrote + timedelta(minutes=5)


def test_a_team_timer_applies_to_its_chats_and_no_timer_means_none(agents_group, five_minutes):
    aiko = agent("aiko")
    quick = Team.objects.create(name="Quick", reply_timer_minutes=2)
    in_team = assigned_to(aiko, team=quick)
    assert in_team.reply_due_at == in_team.assigned_at + timedelta(minutes=2)

    five_minutes.reply_timer_minutes = None
    five_minutes.save()
    without = assigned_to(aiko)
    assert without.reply_due_at is None


def test_an_overdue_chat_goes_back_and_on_to_the_other_available_agent(agents_group, five_minutes):
    aiko = agent("aiko")
    ben = agent("ben")
    seats.set_status(agent=ben, status="away")
    conversation = assigned_to(aiko)
    due = conversation.reply_due_at

    assert not reply_timer.return_overdue(now=due - timedelta(seconds=1))
    seats.set_status(agent=ben, status="available")
    assert reply_timer.return_overdue(now=due)
    conversation.refresh_from_db()
    assert (conversation.state, conversation.passed_over) == (State.WAITING, aiko)
    event = ConversationEvent.objects.get(conversation=conversation, kind="returned")
    assert event.actor_kind == "system"
    assert event.data["reason"] == "reply_timer"
    assert (event.data["minutes"], event.data["from"]) == (5, "aiko")

    assert assignment.assign_next()  # never back to aiko, though she has more room
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.passed_over) == (ben, None)
    assert conversation.reply_due_at == conversation.assigned_at + timedelta(minutes=5)


def test_a_reply_committed_before_the_firing_wins(agents_group, five_minutes, monkeypatch):
    aiko = agent("aiko")
    conversation = assigned_to(aiko)
    due = conversation.reply_due_at
    real_current = reply_timer.transitions.current

    def aiko_replies_first(conversation_id):
        reply_timer.answered(conversation_id, agent_id=aiko.pk)
        return real_current(conversation_id)

    monkeypatch.setattr(reply_timer.transitions, "current", aiko_replies_first)
    reply_timer.return_overdue(now=due)
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee) == (State.ASSIGNED, aiko)
    assert not ConversationEvent.objects.filter(kind="returned").exists()


def test_releasing_or_resolving_stops_the_timer(agents_group, five_minutes):
    aiko = agent("aiko")
    released = assigned_to(aiko)
    conversations.release(conversation_id=released.pk, agent=aiko)
    released.refresh_from_db()
    assert released.reply_due_at is None
    assert released.waiting_since is not None  # the customer still waits

    resolved = assigned_to(aiko)
    conversations.resolve(conversation_id=resolved.pk, agent=aiko)
    resolved.refresh_from_db()
    assert (resolved.reply_due_at, resolved.waiting_since) == (None, None)


def test_the_timer_pauses_outside_the_teams_opening_hours(agents_group, five_minutes):
    aiko = agent("aiko")
    schedule = Schedule.objects.create(name="Tokyo office", time_zone="Asia/Tokyo")
    for day in range(5):
        schedule.intervals.create(weekday=day, opens=9 * 60, closes=18 * 60)
    team = Team.objects.create(name="Tokyo", schedule=schedule, reply_timer_minutes=5)
    friday_1758 = datetime(2026, 12, 11, 8, 58, tzinfo=UTC)
    conversation = make_conversation(
        state=State.ASSIGNED,
        assignee=aiko,
        team=team,
        assigned_at=friday_1758,
        waiting_since=friday_1758,
    )
    reply_timer.restart(conversation.pk)
    conversation.refresh_from_db()
    assert conversation.reply_due_at == datetime(2026, 12, 14, 0, 3, tzinfo=UTC)  # Mon 9:03


# --- On the running server ------------------------------------------------------------------


@pytest.mark.server
def test_an_unanswered_chat_returns_to_the_queue_and_goes_to_the_other_agent(live, agents_group):
    row = HandoffSettings.load()
    row.auto_assign = True
    row.reply_timer_minutes = 5
    row.save()
    TopicRoute.objects.create(
        topic="desk", destination=TopicRoute.Destination.AGENTS, is_default=True
    )
    make_agent("aiko")
    make_agent("ben")
    ben = get_user_model().objects.get(username="ben")
    seats.set_status(agent=ben, status="away")
    with contextlib.ExitStack() as stack:
        aiko_socket = stack.enter_context(open_inbox(live.url, login(live.url, "aiko")))
        ben_socket = stack.enter_context(open_inbox(live.url, login(live.url, "ben")))
        for socket in (aiko_socket, ben_socket):
            json.loads(socket.recv(timeout=5))

        live.post_webhook(webhook_body("u-slow", "hello?"))
        receive_until(
            aiko_socket,
            lambda e: (
                (e.get("event") or {}).get("kind") == "assigned"
                and e["event"]["data"]["to"] == "aiko"
            ),
            timeout=30,
        )
        conversation = Conversation.objects.get(contact__external_id="u-slow")
        assert conversation.reply_due_at is not None
        seats.set_status(agent=ben, status="available")

        # Five minutes pass without aiko's reply (moved in the database, not waited for).
        Conversation.objects.filter(pk=conversation.pk).update(
            reply_due_at=timezone.now() - timedelta(seconds=1)
        )
        returned = receive_until(
            aiko_socket, lambda e: (e.get("event") or {}).get("kind") == "returned", timeout=30
        )
        assert returned["event"]["data"]["from"] == "aiko"
        reassigned = receive_until(
            ben_socket,
            lambda e: (
                (e.get("event") or {}).get("kind") == "assigned"
                and e["event"]["data"]["to"] == "ben"
            ),
            timeout=30,
        )
        assert reassigned["conversation"]["id"] == conversation.pk
        wait_until(lambda: Conversation.objects.filter(pk=conversation.pk, assignee=ben).exists())
