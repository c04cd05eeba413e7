"""Reads about agents: who may take a conversation (and who of them is online), who a
note may mention, and a user found by the username an agent typed.

It never changes a row, and never decides who is an agent on its own: the roster finds
in one query exactly the users `rules.agents.is_agent` accepts.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db.models import Q

from handoff.live.presence import online_agent_ids
from handoff.rules.agents import ANSWER_PERMISSION, display_name


def roster() -> list[dict]:
    """Every agent, by username, with whether they are online: who a chat can be
    transferred to."""
    users = _agents().order_by("username")
    online = online_agent_ids()
    return [
        {
            "username": user.get_username(),
            "display_name": display_name(user),
            "online": user.pk in online,
        }
        for user in users
    ]


def agent_ids_by_username() -> dict[str, int]:
    """Every agent's username and id, in one query: who a note's `@name` may mention."""
    return dict(_agents().values_list("username", "pk"))


def _agents():
    """The users `rules.agents.is_agent` accepts, as one query rather than a has_perm
    per user: the permission is held directly, through a group, or by being a
    superuser."""
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


def user_named(username: str) -> AbstractBaseUser | None:
    """The user with this username, agent or not (the caller says which it needs), or
    None."""
    return get_user_model().objects.filter(username=username).first()
