"""Auto-assignment: each waiting conversation goes to the agent who should serve it
next, one at a time, correct in any number of processes.

One function serves every trigger (a hand-over, an agent becoming available or coming
online, a conversation released or resolved, a capacity raised, a team changed): each
wakes the assigner thread after its commit (jobs/wakeups.py, NOTIFY on PostgreSQL), and
the thread calls `assign_next` until it returns False; its poll interval is the safety
net. Longest waiting first; the agent by rules/assignment.py's ranking.

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
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.models import AgentSeat, Conversation, ConversationEvent, HandoffSettings
from handoff.rules.assignment import FreeAgent, eligible, explanation, ranked
from handoff.selectors import desk
from handoff.services import reply_timer, seats, transitions

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
    if not free:
        return False
    for conversation_id, team_id, passed_over in desk.waiting_for(free):
        candidates = ranked(eligible(free, team_id=team_id, passed_over=passed_over))
        if not candidates:
            continue
        with transaction.atomic():
            if not desk.lock_waiting(conversation_id):
                continue  # another assigner has it, or it left the queue
            return _give(conversation_id, team_id, candidates[0], free, now=now)
    return False


def _give(
    conversation_id: int, team_id: int | None, chosen: FreeAgent, free: list[FreeAgent], *, now
) -> bool:
    """Assign to `chosen` if they are still free under their seat lock. Either way the
    caller's transaction ends right after, so no assigner ever holds two seat locks."""
    seat = seats.lock_seat(chosen.agent_id)
    chosen = desk.still_free(chosen, seat, now=now)
    if chosen is None:
        return True  # they went away or filled up meanwhile: look again from the start
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.WAITING],
        # Still the queue it was chosen for, and not the agent it was taken from.
        extra_filter=Q(team_id=team_id) & ~Q(passed_over_id=chosen.agent_id),
        state=State.ASSIGNED,
        assignee_id=chosen.agent_id,
        assigned_at=now,
        passed_over=None,
    )
    if conversation is None:
        return True  # claimed by hand or moved meanwhile: look again
    conversation.reply_due_at = reply_timer.restart(conversation_id)
    AgentSeat.objects.filter(agent_id=chosen.agent_id).update(last_assigned_at=now)
    transitions.record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.ASSIGNED,
        data={**explanation(chosen, free), "team": _team_name(conversation)},
    )
    seats.announce_load(chosen.agent_id)
    logger.info("Conversation %s assigned to %s", conversation_id, chosen.username)
    return True


def _team_name(conversation: Conversation) -> str | None:
    return conversation.team.name if conversation.team_id else None
