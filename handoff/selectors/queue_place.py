"""Where a waiting customer stands: their place in the line of the agents who can
serve them, and the wait estimated from the desk as it is now
(rules/wait_estimate.py).

The line: the waiting conversations the same agents serve before this one, in the
serving order (rules/queue_order.py: those at risk of their WhatsApp window closing
first, then the oldest hand-over): for a team's conversation, the team's and those of
no team, which every agent takes; for one of no team, every one. The slots: the
capacities of the agents online and available who may take it, and how many of them
are empty. The handling time: the mean time from assignment to resolution of the
team's latest resolved conversations (of everyone's while the team has too few, else
a default).

Never writes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from handoff.models import Conversation
from handoff.rules.assignment import FreeAgent, eligible
from handoff.rules.queue_order import LikelyWait
from handoff.rules.wait_estimate import Estimate, estimate
from handoff.selectors import desk

State = Conversation.State
# The latest resolved conversations the handling time is measured on, how recent they
# must be, how many make a measure, and the handling time without one.
HANDLING_SAMPLE = 200
HANDLING_SINCE = timedelta(days=14)
HANDLING_MIN_SAMPLE = 5
DEFAULT_HANDLING_SECONDS = 600.0


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1: next to be served
    estimate: Estimate | None  # None: no agent who could serve them is at their desk


def place_of(
    conversation: Conversation, *, now: datetime, serving: list[FreeAgent] | None = None
) -> QueuePlace:
    """The place and wait of a waiting conversation (a handful of queries);
    `serving` (desk.serving_agents) when the caller has read it already."""
    line = (
        Q()
        if conversation.team_id is None
        else Q(team_id=conversation.team_id) | Q(team__isnull=True)
    )
    ahead = (
        Conversation.objects.filter(line, state=State.WAITING)
        .filter(served_before(conversation, now=now))
        .count()
    )
    if serving is None:
        serving = desk.serving_agents(now=now)
    position = ahead + 1
    handling = handling_seconds(conversation.team_id, now=now)
    return QueuePlace(position, _wait(serving, conversation.team_id, position, handling))


def served_before(conversation: Conversation, *, now: datetime) -> Q:
    """The waiting conversations the serving order puts before `conversation`
    (desk.SERVING_ORDER)."""
    escalated = conversation.escalated_at or now
    older = Q(escalated_at__lt=escalated) | Q(escalated_at=escalated, pk__lt=conversation.pk)
    if conversation.serve_by is None:
        return Q(serve_by__isnull=False) | (Q(serve_by__isnull=True) & older)
    deadline = conversation.serve_by
    return Q(serve_by__lt=deadline) | (Q(serve_by=deadline) & older)


def likely_waits(*, now: datetime, serving: list[FreeAgent] | None = None) -> LikelyWait:
    """The longest wait likely (the high end of the range a customer is told) at a
    place in a team's line, from the desk as it is now: what rules/queue_order.py
    weighs a customer's window against. Reads each team's handling time once."""
    if serving is None:
        serving = desk.serving_agents(now=now)
    handling: dict[int | None, float] = {}

    def likely_wait(team_id: int | None, place: int) -> float | None:
        if team_id not in handling:
            handling[team_id] = handling_seconds(team_id, now=now)
        wait = _wait(serving, team_id, place, handling[team_id])
        return None if wait is None else wait.high

    return likely_wait


def _wait(
    serving: list[FreeAgent], team_id: int | None, place: int, handling: float
) -> Estimate | None:
    agents = eligible(serving, team_id=team_id, passed_over=None)
    return estimate(
        position=place,
        free=sum(max(agent.room, 0) for agent in agents),
        slots=sum(agent.capacity for agent in agents),
        handling_seconds=handling,
    )


def handling_seconds(team_id: int | None, *, now: datetime) -> float:
    """Mean seconds from assignment to resolution, recently, for the team."""
    for rows in (_resolved(now).filter(team_id=team_id), _resolved(now)):
        spans = [
            (resolved - assigned).total_seconds()
            for assigned, resolved in rows.values_list("assigned_at", "resolved_at")[
                :HANDLING_SAMPLE
            ]
        ]
        if len(spans) >= HANDLING_MIN_SAMPLE:
            return max(sum(spans) / len(spans), 1.0)
    return DEFAULT_HANDLING_SECONDS


def _resolved(now: datetime):
    return Conversation.objects.filter(
        state=State.RESOLVED,
        resolved_at__gte=now - HANDLING_SINCE,
        resolved_at__lte=now,
        assigned_at__isnull=False,
    ).order_by("-resolved_at")
