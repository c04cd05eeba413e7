"""The desk's counts for the inbox tabs, read once for every socket of a web process.

A handful of grouped queries, whatever the number of agents: each socket then works
out its own tabs (rules/queue_counts.py). The hub reads this after a batch of events
that may change a count, at most every COUNTS_SECONDS (live/hub.py). The assigner's
read of the desk (selectors/desk.py) shares the load and team reads.
"""

from django.contrib.auth import get_user_model
from django.db.models import Count

from handoff.models import Conversation, Team
from handoff.rules.queue_counts import DeskCounts

State = Conversation.State


def assigned_per_agent() -> dict[int, int]:
    """How many conversations each agent holds now (agents holding none are absent)."""
    return dict(
        Conversation.objects.filter(state=State.ASSIGNED, assignee__isnull=False)
        .order_by()
        .values("assignee_id")
        .annotate(count=Count("pk"))
        .values_list("assignee_id", "count")
    )


def teams_per_member() -> dict[int, frozenset[int]]:
    """Each team member's team ids: every membership, one short query."""
    teams: dict[int, set[int]] = {}
    for user_id, team_id in Team.members.through.objects.values_list("user_id", "team_id"):
        teams.setdefault(user_id, set()).add(team_id)
    return {user_id: frozenset(ids) for user_id, ids in teams.items()}


def desk_counts() -> DeskCounts:
    by_state = dict(
        Conversation.objects.order_by()
        .values("state")
        .annotate(count=Count("pk"))
        .values_list("state", "count")
    )
    waiting_by_team = dict(
        Conversation.objects.filter(state=State.WAITING)
        .order_by()
        .values("team_id")
        .annotate(count=Count("pk"))
        .values_list("team_id", "count")
    )
    staff = get_user_model().objects.filter(is_staff=True, is_active=True)
    return DeskCounts(
        by_state=by_state,
        waiting_by_team=waiting_by_team,
        assigned_to=assigned_per_agent(),
        teams_of=teams_per_member(),
        staff=frozenset(staff.values_list("pk", flat=True)),
    )
