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
from handoff.rules.assignment import FreeAgent
from handoff.rules.queue_order import Chance
from handoff.rules.wait_estimate import DEFAULT_HANDLING_SECONDS, Desk, Estimate, mean_handling
from handoff.selectors import desk

State = Conversation.State
# The latest resolved conversations the handling time is measured on, and how
# recent they must be.
HANDLING_SAMPLE = 200
HANDLING_SINCE = timedelta(days=14)


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
    handling = handling_seconds(conversation.team_id, now=now)
    line_desk = Desk.of(serving, team_id=conversation.team_id, handling_seconds=handling)
    return QueuePlace(ahead + 1, line_desk.estimate(ahead + 1))


def served_before(conversation: Conversation, *, now: datetime) -> Q:
    """The waiting conversations the serving order puts before `conversation`
    (desk.SERVING_ORDER)."""
    escalated = conversation.escalated_at or now
    older = Q(escalated_at__lt=escalated) | Q(escalated_at=escalated, pk__lt=conversation.pk)
    if conversation.serve_by is None:
        return Q(serve_by__isnull=False) | (Q(serve_by__isnull=True) & older)
    deadline = conversation.serve_by
    return Q(serve_by__lt=deadline) | (Q(serve_by=deadline) & older)


def chance_at(*, now: datetime, serving: list[FreeAgent] | None = None) -> Chance:
    """The chance that a customer at a place in a team's line is served within so
    many seconds, from the desk as it is now: what rules/queue_order.py weighs a
    customer's window against. Reads each team's handling time once."""
    if serving is None:
        serving = desk.serving_agents(now=now)
    desks: dict[int | None, Desk] = {}

    def chance(team_id: int | None, place: int, seconds: float) -> float | None:
        if team_id not in desks:
            handling = handling_seconds(team_id, now=now)
            desks[team_id] = Desk.of(serving, team_id=team_id, handling_seconds=handling)
        return desks[team_id].chance_within(place, seconds)

    return chance


def handling_seconds(team_id: int | None, *, now: datetime) -> float:
    """Mean seconds from assignment to resolution, recently, for the team (everyone's
    while the team has too few, else the default)."""
    for rows in (_resolved(now).filter(team_id=team_id), _resolved(now)):
        spans = [
            (resolved - assigned).total_seconds()
            for assigned, resolved in rows.values_list("assigned_at", "resolved_at")[
                :HANDLING_SAMPLE
            ]
        ]
        mean = mean_handling(spans)
        if mean is not None:
            return mean
    return DEFAULT_HANDLING_SECONDS


def _resolved(now: datetime):
    return Conversation.objects.filter(
        state=State.RESOLVED,
        resolved_at__gte=now - HANDLING_SINCE,
        resolved_at__lte=now,
        assigned_at__isnull=False,
    ).order_by("-resolved_at")
