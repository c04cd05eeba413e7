"""Reads about agents: who may take a conversation, whether they are online, what they
chose (available or away) and how much they hold; who a note may mention; and a user
found by the username an agent typed.

It never changes a row, and never decides who is an agent on its own: the roster finds
in one query exactly the users `rules.agents.is_agent` accepts.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from handoff.live.presence import fresh, online_agent_ids, seats
from handoff.models import AgentPresence, AgentSeat, Conversation, Team
from handoff.rules.agents import ANSWER_PERMISSION, display_name, shown_status


def agent_users() -> QuerySet:
    """The active users holding the answer permission, directly, through a group, or by
    being a superuser: one query rather than a has_perm per user."""
    app_label, _, codename = ANSWER_PERMISSION.partition(".")
    permission = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__in=permission)
            | Q(groups__permissions__in=permission)
        )
        .distinct()
    )


def roster() -> list[dict]:
    """Every agent, by username, with whether they are online, their status, their
    load and their teams: who a chat can be transferred to. Five queries for any
    number of agents."""
    users = list(agent_users().order_by("username"))
    online = online_agent_ids()
    seat_of = seats([user.pk for user in users])
    teams = _teams_of([user.pk for user in users])
    return [
        {
            **_agent(user, online=user.pk in online, seat=seat_of[user.pk]),
            "teams": teams.get(user.pk, []),
        }
        for user in users
    ]


def _teams_of(user_ids: list[int]) -> dict[int, list[str]]:
    """Each agent's teams by name, in one query."""
    teams: dict[int, list[str]] = {}
    rows = Team.members.through.objects.filter(user_id__in=user_ids).order_by("team__name")
    for user_id, name in rows.values_list("user_id", "team__name"):
        teams.setdefault(user_id, []).append(name)
    return teams


def me(user: AbstractBaseUser) -> dict:
    """What `/api/me/` says of the signed-in agent: their roster entry, with whether
    they are staff and the status they chose (which an agent with no inbox open still
    has, while the others see them offline)."""
    seat = seats([user.pk])[user.pk]
    online = user.pk in online_agent_ids()
    return {
        **_agent(user, online=online, seat=seat),
        "is_staff": user.is_staff,
        "chosen_status": seat.status,
        "teams": team_names(user),
    }


def _agent(user: AbstractBaseUser, *, online: bool, seat) -> dict:
    return {
        "username": user.get_username(),
        "display_name": display_name(user),
        "online": online,
        "status": shown_status(seat.status, online=online),
        "capacity": seat.capacity,
        "open_count": seat.open_count,
    }


def seat_rows() -> QuerySet:
    """The seat rows of the current agents, each with `open_count` and `online`, in
    one query: admin's list of agents."""
    held = (
        Conversation.objects.filter(state=Conversation.State.ASSIGNED, assignee=OuterRef("agent"))
        .order_by()
        .values("assignee")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        AgentSeat.objects.filter(agent__in=agent_users())
        .select_related("agent")
        .annotate(
            open_count=Coalesce(Subquery(held), 0),
            online=Exists(AgentPresence.objects.filter(fresh(), agent=OuterRef("agent"))),
        )
    )


def agent_ids_by_username() -> dict[str, int]:
    """Every agent's username and id, in one query: who a note's `@name` may mention."""
    return dict(agent_users().values_list("username", "pk"))


def user_named(username: str) -> AbstractBaseUser | None:
    """The user with this username, agent or not (the caller says which it needs), or
    None."""
    return get_user_model().objects.filter(username=username).first()


def team_names(user: AbstractBaseUser) -> list[str]:
    """The teams the agent belongs to, by name: whose waiting queues they see."""
    return list(Team.objects.filter(members=user).order_by("name").values_list("name", flat=True))


def chosen_status(user: AbstractBaseUser) -> str:
    """The status the agent chose (available or away), for the inbox page to start from."""
    return seats([user.pk])[user.pk].status
