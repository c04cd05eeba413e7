"""A waiting customer told their new place now and then (issue 17, point 1's optional
update; services/queue_updates.py): when they moved up by half, else after twice the
interval; at most once an interval; never once an agent has written."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from handoff.models import Conversation, HandoffSettings, Message
from handoff.services import queue_updates
from handoff.services.conversations import escalate
from tests.support.factories import make_conversation

State = Conversation.State
NOW = datetime(2027, 1, 13, 3, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def updates_every(minutes: int | None) -> None:
    HandoffSettings.objects.filter(pk=1).update(position_update_minutes=minutes)


def queue_of(count: int) -> list[Conversation]:
    """`count` customers handed over a minute apart, each told their place."""
    line = []
    for n in range(count):
        conversation = make_conversation()
        conversation.contact.last_inbound_at = NOW
        conversation.contact.save()
        escalate(conversation_id=conversation.pk, kind="keyword", detail="x", now=NOW + n * MINUTE)
        line.append(Conversation.objects.get(pk=conversation.pk))
    return line


def updates(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, direction="out")
        .order_by("pk")
        .values_list("text", flat=True)[1:]  # after the hand-over message
    )


def run_checks(at: datetime) -> None:
    while queue_updates.check_due(at):
        pass


def served(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(state=State.RESOLVED)


@pytest.mark.django_db
def test_a_customer_who_moved_up_by_half_is_told_their_new_place_once_per_interval():
    updates_every(10)
    line = queue_of(8)
    last = line[-1]
    assert last.place_told_position == 8

    for ahead in line[:4]:
        served(ahead)
    run_checks(NOW + 5 * MINUTE)  # before the interval: nothing
    assert updates(last) == []
    run_checks(NOW + 17 * MINUTE)  # told at 0:07, the interval is up, number 4 now

    assert updates(last) == [
        "Thanks for waiting. You are now number 4 in the queue; the wait is not known yet."
    ]
    run_checks(NOW + 20 * MINUTE)
    assert len(updates(last)) == 1  # not again within the interval


@pytest.mark.django_db
def test_a_customer_who_barely_moved_is_told_after_twice_the_interval():
    updates_every(10)
    line = queue_of(4)
    served(line[0])  # number 4 is number 3: not half

    run_checks(NOW + 14 * MINUTE)
    assert updates(line[3]) == []
    run_checks(NOW + 23 * MINUTE)  # twice the interval after being told at 0:03

    assert updates(line[3]) == [
        "Thanks for waiting. You are now number 3 in the queue; the wait is not known yet."
    ]


@pytest.mark.django_db
def test_no_update_once_an_agent_wrote_when_served_or_when_updates_are_off():
    updates_every(10)
    answered, assigned, later = queue_of(3)
    Conversation.objects.filter(pk=answered.pk).update(first_reply_at=NOW + MINUTE)
    aiko = get_user_model().objects.create_user("aiko")
    Conversation.objects.filter(pk=assigned.pk).update(state=State.ASSIGNED, assignee=aiko)

    run_checks(NOW + 60 * MINUTE)
    assert updates(answered) == [] and updates(assigned) == []
    assert len(updates(later)) == 1

    updates_every(None)
    run_checks(NOW + 120 * MINUTE)
    assert len(updates(later)) == 1


@pytest.mark.django_db
def test_with_updates_off_no_check_is_scheduled_at_all():
    [conversation] = queue_of(1)

    assert conversation.place_check_at is None
    assert queue_updates.check_due(NOW + timedelta(days=1)) is False
