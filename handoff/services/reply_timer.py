"""The reply timer: an assigned conversation whose customer waited too long for the
assignee's reply goes back to the queue, and on to another available agent.

Who owes the customer a reply is kept on the conversation: `waiting_since` (set at the
hand-over and by the customer's message when nobody owed one, cleared by an agent's
reply to the customer; notes do not count) and, while assigned, `reply_due_at` from
rules/reply_timer.py and the team's timer.

`reply_due_at` is also the firing's key: the return is a conditional UPDATE that
matches only the owner and the due time it read, so a reply, a transfer or a new
assignment committed in between (each changes or clears it) makes a stale firing match
nothing, in any number of processes. The returned conversation remembers whom it was
taken from (`passed_over`): the assigner gives it to someone else, woken at once.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.models import Conversation, ConversationEvent
from handoff.rules.reply_timer import reply_due
from handoff.selectors.teams import rules_for
from handoff.services import reporting, seats, sla, transitions
from handoff.telemetry import log_context

logger = logging.getLogger(__name__)

State = Conversation.State


def restart(conversation_id: int) -> datetime | None:
    """Set the assigned conversation's due time from what it holds now (call in the
    transaction that assigned it, or after the customer began waiting); returns it, for
    the caller's copy of the row that the inboxes are shown."""
    row = (
        Conversation.objects.filter(pk=conversation_id, state=State.ASSIGNED)
        .values("team_id", "waiting_since", "assigned_at")
        .first()
    )
    if row is None:
        return None
    if row["waiting_since"] is None:  # nobody owes a reply: no timer, nothing to read
        Conversation.objects.filter(pk=conversation_id, reply_due_at__isnull=False).update(
            reply_due_at=None
        )
        return None
    rules = rules_for(row["team_id"])
    due = reply_due(
        waiting_since=row["waiting_since"],
        assigned_at=row["assigned_at"],
        minutes=rules.reply_timer_minutes,
        hours=rules.hours,
    )
    Conversation.objects.filter(pk=conversation_id, state=State.ASSIGNED).update(reply_due_at=due)
    return due


def customer_waits(conversation_id: int, *, since: datetime) -> None:
    """The customer wrote to people (waiting or assigned): from now on someone owes
    them a reply, unless someone already did."""
    started = Conversation.objects.filter(
        pk=conversation_id,
        state__in=[State.WAITING, State.ASSIGNED],
        waiting_since__isnull=True,
    ).update(waiting_since=since)
    if started:
        restart(conversation_id)
        sla.refresh(conversation_id)  # a next-response clock starts
        transitions.announce(conversation_id)


def answered(conversation_id: int, *, agent_id: int | None) -> None:
    """An agent replied to the customer: nobody owes them one until they write again.
    The first reply since the hand-over is remembered (`first_reply_at`): it stops
    the SLA's first-response clock, and later waits run the next-response clock.
    Call with the row locked (the caller's no-op UPDATE): the response is measured
    from the row as it was just before."""
    now = timezone.now()
    before = Conversation.objects.filter(pk=conversation_id).first()
    if before is not None:
        reporting.replied(before, agent_id=agent_id, at=now)
    stopped = (
        Conversation.objects.filter(pk=conversation_id)
        .exclude(waiting_since=None, reply_due_at=None)
        .update(waiting_since=None, reply_due_at=None)
    )
    first = Conversation.objects.filter(
        pk=conversation_id, first_reply_at=None, escalated_at__isnull=False
    ).update(first_reply_at=now)
    clocks_changed = sla.refresh(conversation_id, now) if stopped or first else False
    if stopped or clocks_changed:
        transitions.announce(conversation_id)


def return_overdue(now: datetime | None = None) -> bool:
    """Return one conversation whose reply is overdue; True if one was (call again)."""
    now = now or timezone.now()
    row = (
        Conversation.objects.filter(state=State.ASSIGNED, reply_due_at__lte=now)
        .order_by("reply_due_at", "pk")
        .values_list("pk", "assignee_id", "reply_due_at", "team_id")
        .first()
    )
    if row is None:
        return False
    conversation_id, agent_id, due, team_id = row
    with log_context.working_on(conversation_id), transaction.atomic():
        previous = transitions.current(conversation_id)
        conversation = transitions.transition(
            conversation_id,
            from_states=[State.ASSIGNED],
            extra_filter=Q(assignee_id=agent_id, reply_due_at=due),
            state=State.WAITING,
            assignee=None,
            assigned_at=None,
            reply_due_at=None,
            passed_over_id=agent_id,
        )
        if conversation is None:
            return True  # answered, moved or returned elsewhere meanwhile
        minutes = rules_for(team_id).reply_timer_minutes
        transitions.record_event(
            conversation=conversation,
            kind=ConversationEvent.Kind.RETURNED,
            data={
                "reason": "reply_timer",
                "minutes": minutes,
                "from": previous.assignee.get_username() if previous.assignee else None,
                "waiting_since": _iso(previous.waiting_since),
            },
        )
        seats.announce_load(agent_id)
        wakeups.wake_after_commit(wakeups.ASSIGNMENT)  # to the next agent, if one is free
    logger.info("Conversation %s returned to the queue by the reply timer", conversation_id)
    return True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
