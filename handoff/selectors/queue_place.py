"""Where a waiting customer stands: their place in the line of the agents who can
serve them, and the wait estimated from the desk as it is now
(rules/wait_estimate.py).

The line: the waiting conversations the same agents serve before this one (the
assigner serves the oldest hand-over first among those an agent may take): for a
team's conversation, the team's older ones and the older ones of no team, which every
agent takes; for one of no team, every older one. The slots: the capacities of the
agents online and available who may take it, and how many of them are empty. The
handling time: the mean time from assignment to resolution of the team's latest
resolved conversations (of everyone's while the team has too few, else a default).

Never writes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from handoff.models import Conversation
from handoff.rules.assignment import FreeAgent, eligible
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
    if conversation.team_id is None:
        line = Q()
    else:
        line = Q(team_id=conversation.team_id) | Q(team__isnull=True)
    escalated = conversation.escalated_at or now
    ahead = (
        Conversation.objects.filter(line, state=State.WAITING)
        .filter(Q(escalated_at__lt=escalated) | Q(escalated_at=escalated, pk__lt=conversation.pk))
        .count()
    )
    if serving is None:
        serving = desk.serving_agents(now=now)
    serving = eligible(serving, team_id=conversation.team_id, passed_over=None)
    position = ahead + 1
    return QueuePlace(
        position=position,
        estimate=estimate(
            position=position,
            free=sum(max(agent.room, 0) for agent in serving),
            slots=sum(agent.capacity for agent in serving),
            handling_seconds=handling_seconds(conversation.team_id, now=now),
        ),
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
