"""Reads for assignment: which agents are free right now, and the waiting
conversations in the order they are served (rules/queue_order.py: those at risk of
their WhatsApp window closing first, by deadline, then the oldest hand-over).

"Free" is one definition (an active agent with a fresh inbox socket, live/presence.py,
who chose available and holds fewer open conversations than their capacity:
`rules.assignment.takes_more`), read for every agent when the assigner looks for
candidates and for one agent, on the seat row it has just locked, when it checks its
choice again. A fixed number of queries whatever the number of agents. Never writes.
"""

from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery

from handoff.live.counts import assigned_per_agent, teams_per_member
from handoff.live.presence import fresh
from handoff.models import AgentPresence, AgentSeat, Conversation
from handoff.rules.agents import AVAILABLE
from handoff.rules.assignment import FreeAgent, takes_more
from handoff.selectors.agents import agent_users

State = Conversation.State

# How many waiting conversations, oldest first, the assigner considers in one pass: a
# conversation it cannot place (its only free agent is the one it was taken from) must
# not stop the ones behind it.
LOOKAHEAD = 20

# rules/queue_order.serving_key in SQL: `serve_by` is set on the conversations at risk
# (services/window_priority.py), null on the others.
SERVING_ORDER = (
    F("serve_by").asc(nulls_last=True),
    F("escalated_at").asc(nulls_first=True),
    "pk",
)


def free_agents(*, now: datetime | None = None) -> list[FreeAgent]:
    """The agents free to be given a conversation now."""
    return [agent for agent in serving_agents(now=now) if agent.room > 0]


def serving_agents(*, now: datetime | None = None) -> list[FreeAgent]:
    """The agents serving the queues now, full or not: online and available (the
    slots a waiting customer's wait is estimated from).

    Read for every hand-over, so in three queries that name no agent: a list of 200
    ids passed back as `IN (...)` cost more to prepare than the queries took to run
    (6.8 ms a call at 200 agents before, docs/benchmarks.md)."""
    rows = (
        agent_users()
        .filter(Exists(AgentPresence.objects.filter(fresh(now), agent_id=OuterRef("pk"))))
        .filter(Q(seat__isnull=True) | Q(seat__status=AVAILABLE))
        .values_list("pk", "username", "seat__capacity", "seat__last_assigned_at")
    )
    agents = list(rows)
    if not agents:
        return []
    load = assigned_per_agent()
    teams = teams_per_member()
    default = settings.HANDOFF_DEFAULT_CAPACITY
    return [
        FreeAgent(
            agent_id=agent_id,
            username=username,
            capacity=capacity or default,
            open_count=load.get(agent_id, 0),
            last_assigned_at=last_assigned_at,
            team_ids=teams.get(agent_id, frozenset()),
        )
        for agent_id, username, capacity, last_assigned_at in agents
    ]


def still_free(chosen: FreeAgent, seat: AgentSeat, *, now: datetime) -> FreeAgent | None:
    """`chosen` as they are now, if still free, read on their seat row just locked (its
    status and capacity cannot change before the caller commits) and, in one query,
    the facts kept elsewhere: still an agent, a fresh socket, the conversations held."""
    facts = (
        agent_users()
        .filter(pk=chosen.agent_id)
        .annotate(
            online=Exists(AgentPresence.objects.filter(fresh(now), agent_id=OuterRef("pk"))),
            holds=Subquery(
                Conversation.objects.filter(state=State.ASSIGNED, assignee_id=OuterRef("pk"))
                .order_by()
                .values("assignee_id")
                .annotate(count=Count("pk"))
                .values("count")
            ),
        )
        .values_list("online", "holds")
        .first()
    )
    if facts is None or not facts[0]:
        return None  # no longer an agent, or no longer online
    open_count = facts[1] or 0
    capacity = seat.capacity or settings.HANDOFF_DEFAULT_CAPACITY
    if not takes_more(status=seat.status, open_count=open_count, capacity=capacity):
        return None
    return replace(chosen, capacity=capacity, open_count=open_count)


def waiting_for(agents: list[FreeAgent]) -> list[tuple[int, int | None, int | None]]:
    """(id, team id, passed-over agent id) of the waiting conversations some of these
    agents could take, in the serving order, at most LOOKAHEAD of them."""
    team_ids = set().union(*(agent.team_ids for agent in agents))
    rows = Conversation.objects.filter(state=State.WAITING).filter(
        Q(team__isnull=True) | Q(team_id__in=team_ids)
    )
    return list(
        rows.order_by(*SERVING_ORDER).values_list("pk", "team_id", "passed_over_id")[:LOOKAHEAD]
    )


def lock_waiting(conversation_id: int) -> bool:
    """Lock the conversation if it still waits and no other assigner holds it (they
    skip it rather than queue behind it, PostgreSQL); False when it cannot be had."""
    rows = Conversation.objects.filter(pk=conversation_id, state=State.WAITING)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    return bool(list(rows.values_list("pk")))


def anything_waiting() -> bool:
    """One cheap query before the assigner reads the agents at all."""
    return Conversation.objects.filter(state=State.WAITING).exists()
