"""When an agent loses access, their open inbox sockets stop before the next event.

An HTTP request checks the session every time; a websocket is checked once, when it
connects. So a change that can end an agent's access (deactivation, losing the
"answer conversations" permission directly or through a group, a password change,
deletion) writes an `access.changed` event into the inbox feed in the same
transaction as the change. The feed is numbered in commit order and every socket
sends events strictly in that order, fetching skipped numbers from the feed first
(consumers.py), so a socket meets `access.changed` before any event committed after
the change, asks `socket_may_stay` again, and closes without sending anything more.
The order comes from the database, not from the pushes, so this holds in one process
and across processes, on the in-memory and the Redis channel layer alike.

Sockets also ask `socket_may_stay` on every heartbeat: that catches what no event
announces (a bulk `QuerySet.update()`, a logout or an expired session).

This module never closes a socket itself and never decides what an agent may see;
it says whose access changed and whether a socket's session still signs in an agent.
"""

from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.models import Group
from django.db import connection
from django.utils.crypto import constant_time_compare

from handoff.live import presence
from handoff.live.events import ACCESS_CHANGED, publish_access_changed
from handoff.models import AgentPresence
from handoff.rules.agents import is_agent, may_report

# A user's fields whose change can end access: the session auth hash is derived from
# the password, ModelBackend refuses inactive users, a superuser holds every permission,
# and staff may watch the desk (the supervisor view).
ACCESS_FIELDS = frozenset({"password", "is_active", "is_superuser", "is_staff"})
# How long a socket holds events after a `pending` access change whose own event
# never came (the save failed) before it re-checks and lets them go.
ACCESS_PENDING_SECONDS = 2.0


def socket_may_stay(*, agent_id: int, session_key: str | None, as_agent: bool = True) -> bool:
    """Whether a socket opened for `agent_id` with this session may go on receiving.

    The answer an HTTP request with the same session would get now, as Django's
    `get_user` decides it: the session still exists and names this agent, the
    password has not changed since it was signed in (the session auth hash), and the
    user is still an active agent (or, for a watching socket, `as_agent` false, still
    staff or a supervisor). Nothing is written (a socket cannot send the
    browser a new cookie, so unlike `get_user` it never flushes or cycles a session).
    """
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    data = store.load()
    backend_path = data.get(BACKEND_SESSION_KEY)
    if str(data.get(SESSION_KEY)) != str(agent_id):
        return False
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = load_backend(backend_path).get_user(agent_id)
    if user is None:  # deleted, or refused by the backend (ModelBackend: inactive)
        return False
    session_hash = data.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return False
    return is_agent(user) if as_agent else may_report(user)


def access_changed(*, agent_ids: Iterable[int]) -> None:
    """Tell these agents' sockets to ask `socket_may_stay` again before anything else.

    Call it inside the transaction that makes the change: the event then commits
    with the change and is ordered before every event committed after it.
    """
    ids = sorted(set(agent_ids))
    if ids:
        publish_access_changed(ids)


def concerns(event: dict, agent_id: int) -> bool:
    """Whether an event from the feed asks this agent's sockets to re-check."""
    return event.get("type") == ACCESS_CHANGED and agent_id in (event.get("agent_ids") or ())


def user_saved_fields_that_end_access(user, *, update_fields: Iterable[str] | None) -> bool:
    """Whether saving `user` (not yet written) changes a field access depends on in a
    way that can end it: a new password, deactivation, or losing superuser or staff status.
    Gaining access needs no event: a socket is only ever opened by a current agent."""
    if user.pk is None or user._state.adding:
        return False
    if update_fields is not None and not ACCESS_FIELDS & set(update_fields):
        return False  # a login's `last_login` update, for one
    before = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .values("password", "is_active", "is_superuser", "is_staff")
        .first()
    )
    if before is None:
        return False
    return (
        before["password"] != user.password
        or (before["is_active"] and not user.is_active)
        or (before["is_superuser"] and not user.is_superuser)
        or (before["is_staff"] and not user.is_staff)  # a watching socket's right
    )


def members_of(group_ids: Iterable[int]) -> list[int]:
    """The users in these groups: they may lose a permission the group gave them."""
    return list(
        get_user_model()
        .objects.filter(groups__in=list(group_ids))
        .values_list("pk", flat=True)
        .distinct()
    )


def holders_of_permissions(permission_ids: Iterable[int]) -> list[int]:
    """The users holding these permissions directly or through a group."""
    permission_ids = list(permission_ids)
    direct = get_user_model().objects.filter(user_permissions__in=permission_ids)
    groups = Group.objects.filter(permissions__in=permission_ids).values_list("pk", flat=True)
    return sorted(set(direct.values_list("pk", flat=True)) | set(members_of(groups)))


def agent_deleted(*, agent_id: int, username: str) -> None:
    """A deleted user's sockets re-check (and close); other agents see them go offline,
    which their closing sockets cannot announce once the user row is gone."""
    access_changed(agent_ids=[agent_id])
    if AgentPresence.objects.filter(agent_id=agent_id).exists():
        presence.announce_gone(username)


def save_begins(*, agent_id: int) -> None:
    """Announce a save that will end access but runs outside any transaction.

    Such a save (a shell's `user.save()`, `changepassword`) commits the change on its
    own, before its post_save can write `access.changed`: an event committed in
    between would reach the socket first. So it first writes `access.changed` with
    `pending`: from there the agent's sockets hold every event until the change's own
    `access.changed` (or ACCESS_PENDING_SECONDS, if the save failed), then re-check.
    Inside a transaction nothing is needed: the event commits with the change.
    """
    if not connection.in_atomic_block:
        publish_access_changed([agent_id], pending=True)
