"""Auto-assignment: each waiting conversation goes to the agent who should serve it
next, one at a time, correct in any number of processes.

One function serves every trigger (a hand-over, an agent becoming available or coming
online, a conversation released or resolved, a capacity raised, a team changed): each
wakes the assigner thread after its commit (jobs/wakeups.py, NOTIFY on PostgreSQL), and
the thread calls `assign_next` until it returns False; its poll interval is the safety
net. Longest waiting first; the agent by rules/assignment.py's ranking.

A hand-over does not wait for the thread: `reserve_at_handover` makes the same choice
in the hand-over's own transaction, when the new conversation is the one the assigner
would serve next (Chatwoot assigns in the conversation's own save, too). The agent
then sees the chat arrive already theirs, in the same push, and under load the
assignment does not queue behind other work for seconds (docs/benchmarks.md).

Why it is right under races, without Redis locks (Chatwoot's source of double and
missed assignments):
- the conversation row is locked first (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
  two assigners take different conversations; SQLite runs one writer at a time);
- then the chosen agent's seat row, the lock every change of their status takes and
  every change that adds to their load (claim, take-over, transfer) takes after its
  own conversation row: the same order everywhere, so no deadlock;
- under that lock the agent is read again with the same definition of "free" (online,
  available, below capacity). What was true when candidates were read may not be now;
  then nothing is written and the assigner looks again from the start.
The conversation moves by the usual conditional UPDATE (`transitions.transition`), so
an agent's manual claim that came first wins and the assigner moves on.

The customer is told nothing: a hand-over already said a person is coming.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.live import presence
from handoff.models import AgentSeat, Conversation, ConversationEvent, HandoffSettings
from handoff.rules.assignment import FreeAgent, eligible, explanation, ranked
from handoff.selectors import desk
from handoff.services import reply_timer, reporting, seats, transitions
from handoff.telemetry import log_context
from handoff.telemetry.metrics import ASSIGNMENT_LATENCY_SECONDS, observe_between

logger = logging.getLogger(__name__)

State = Conversation.State


def wake_assigner() -> None:
    """Call in a transaction that may have made an assignment possible: the assigners
    of every process look once it commits (never for a rollback)."""
    wakeups.wake_after_commit(wakeups.ASSIGNMENT)


def assign_next(now: datetime | None = None) -> bool:
    """Give one waiting conversation to a free agent; True if one was given (or the
    facts changed under it and it is worth looking again), False when nothing can be.

    The choice is read outside any transaction (on SQLite a transaction holds the one
    write lock the webhook needs too); only the few statements that act on it run in
    one, and they check again what they rely on.
    """
    if not desk.anything_waiting() or not HandoffSettings.load().auto_assign:
        return False
    now = now or timezone.now()
    free = desk.free_agents(now=now)
    for conversation_id, team_id, candidates in _in_serving_order(free):
        with log_context.working_on(conversation_id), transaction.atomic():
            if not desk.lock_waiting(conversation_id):
                continue  # another assigner has it, or it left the queue
            _give(conversation_id, team_id, candidates[0], free, now=now)
            return True  # given, or the facts changed: look again from the start
    return False


def reserve_at_handover(
    conversation: Conversation, *, now: datetime, serving: list[FreeAgent] | None = None
) -> "Reservation | None":
    """In the transaction that has just made `conversation` wait (its row is locked),
    before it records any event: choose the agent the assigner would, if this is the
    conversation the assigner would serve next, and lock their seat. Finish with
    `assign_reserved` once the hand-over's own events are recorded.

    Why in two steps: every transaction takes the seat lock before the feed's
    numbering lock (record_event's, PostgreSQL), else a hand-over holding the second
    and an agent's status change holding the first would wait on each other.
    Longest waiting first holds: when an older conversation comes first for the free
    agents, nothing happens here and the woken assigner serves the queue in its order.
    `serving` (desk.serving_agents) when the caller has read it already.
    """
    if not HandoffSettings.load().auto_assign:
        return None
    if serving is None:
        serving = desk.serving_agents(now=now)
    free = [agent for agent in serving if agent.room > 0]
    for conversation_id, team_id, candidates in _in_serving_order(free):
        if conversation_id != conversation.pk:
            return None  # an older conversation goes first
        return _reserve(conversation_id, team_id, candidates[0], free, now=now)
    return None


def _in_serving_order(free: list[FreeAgent]):
    """(conversation id, team id, ranked candidates) of the waiting conversations that
    some free agent may take, in the order they are served."""
    if not free:
        return
    for conversation_id, team_id, passed_over in desk.waiting_for(free):
        candidates = ranked(eligible(free, team_id=team_id, passed_over=passed_over))
        if candidates:
            yield conversation_id, team_id, candidates


@dataclass(frozen=True)
class Reservation:
    """An agent chosen for a conversation, their seat locked and their being free
    checked again under that lock, until the transaction ends."""

    conversation_id: int
    team_id: int | None
    chosen: FreeAgent
    seat_status: str
    free: list[FreeAgent]


def _reserve(
    conversation_id: int, team_id: int | None, chosen: FreeAgent, free: list[FreeAgent], *, now
) -> Reservation | None:
    """Lock `chosen`'s seat and check they are still free; None when they are not."""
    seat = seats.lock_seat(chosen.agent_id)
    checked = desk.still_free(chosen, seat, now=now)
    if checked is None:
        return None  # they went away or filled up meanwhile
    return Reservation(conversation_id, team_id, checked, seat.status, free)


def _give(
    conversation_id: int, team_id: int | None, chosen: FreeAgent, free: list[FreeAgent], *, now
) -> Conversation | None:
    """Assign to `chosen` if they are still free under their seat lock; the assigned
    conversation, or None when the facts changed. Either way the caller's transaction
    ends right after, so no assigner ever holds two seat locks."""
    reservation = _reserve(conversation_id, team_id, chosen, free, now=now)
    return assign_reserved(reservation, now=now) if reservation else None


def assign_reserved(reservation: Reservation, *, now: datetime) -> Conversation | None:
    """Make the reserved assignment, in the transaction that reserved it; None when
    the conversation was claimed by hand or moved meanwhile."""
    chosen = reservation.chosen
    conversation = transitions.transition(
        reservation.conversation_id,
        from_states=[State.WAITING],
        # Still the queue it was chosen for, and not the agent it was taken from.
        extra_filter=Q(team_id=reservation.team_id) & ~Q(passed_over_id=chosen.agent_id),
        state=State.ASSIGNED,
        assignee_id=chosen.agent_id,
        assigned_at=now,
        passed_over=None,
    )
    if conversation is None:
        return None
    conversation.reply_due_at = reply_timer.restart(conversation.pk)
    reporting.assigned(conversation, agent_id=chosen.agent_id, at=now)
    AgentSeat.objects.filter(agent_id=chosen.agent_id).update(last_assigned_at=now)
    transitions.record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.ASSIGNED,
        data={**explanation(chosen, reservation.free), "team": _team_name(conversation)},
    )
    presence.announce_online_seat(
        agent_id=chosen.agent_id,
        username=chosen.username,
        status=reservation.seat_status,
        capacity=chosen.capacity,
    )
    escalated_at = conversation.escalated_at
    transaction.on_commit(lambda: observe_between(ASSIGNMENT_LATENCY_SECONDS, escalated_at, now))
    logger.info("Conversation %s assigned to agent %s", conversation.pk, chosen.agent_id)
    return conversation


def _team_name(conversation: Conversation) -> str | None:
    return conversation.team.name if conversation.team_id else None
