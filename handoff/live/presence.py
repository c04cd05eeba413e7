"""Who is online (rows in AgentPresence) and what agents are doing (activity notices).

Presence is kept in the database so that every web process sees the same answer. A
socket's row is refreshed by its heartbeat; a process that dies leaves rows that stop
being fresh and are swept by the workers (`forget_stale_sockets`), which then says
those agents went offline, since their sockets never could.

Activity (viewing, typing, left) is not a change: it is a notice with no number, not
stored, not replayed (docs/websocket.md).
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from handoff.live.events import publish_ephemeral, publish_presence
from handoff.models import AgentPresence

PRESENCE_TIMEOUT = timedelta(seconds=75)  # three missed 25 s heartbeats


def _fresh(now=None):
    return AgentPresence.objects.filter(seen_at__gte=(now or timezone.now()) - PRESENCE_TIMEOUT)


def online_agent_ids() -> set[int]:
    return set(_fresh().values_list("agent_id", flat=True).distinct())


def online_usernames() -> list[str]:
    """The online agents' usernames, sorted, as the socket's hello lists them."""
    users = get_user_model().objects.filter(pk__in=online_agent_ids())
    return sorted(user.get_username() for user in users)


def _lock_agent(agent_id: int) -> bool:
    """Lock the agent's row; False when the agent was deleted (their sockets are
    then being closed, and there is no one left to announce)."""
    # Two sockets of one agent opening or closing at once (PostgreSQL, several web
    # processes) must not both decide they are the first or the last. A no-op on
    # SQLite, where write transactions already run one at a time.
    return bool(
        list(get_user_model().objects.select_for_update().filter(pk=agent_id).values_list("pk"))
    )


@transaction.atomic
def socket_opened(agent_id: int, channel_name: str) -> None:
    """Record the socket; announce the agent if it is their first fresh one."""
    if not _lock_agent(agent_id):
        return
    was_online = _fresh().filter(agent_id=agent_id).exists()
    now = timezone.now()
    AgentPresence.objects.update_or_create(
        channel_name=channel_name, defaults={"agent_id": agent_id, "seen_at": now}
    )
    if not was_online:
        publish_presence(agent_id, online=True)


def heartbeat(channel_name: str, *, agent_id: int | None = None) -> None:
    """Keep the socket fresh. A socket whose row was swept as stale (a throttled
    background tab) is recorded again, and its agent announced again if need be."""
    updated = AgentPresence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())
    if not updated and agent_id is not None:
        socket_opened(agent_id, channel_name)


@transaction.atomic
def socket_closed(agent_id: int, channel_name: str) -> None:
    """Forget the socket; announce the agent offline if it was their last fresh one
    (a deleted agent was announced offline by their deletion)."""
    exists = _lock_agent(agent_id)
    AgentPresence.objects.filter(channel_name=channel_name).delete()
    if exists and not _fresh().filter(agent_id=agent_id).exists():
        publish_presence(agent_id, online=False)


def forget_stale_sockets(now=None) -> int:
    """Delete the rows of sockets that stopped beating (their process died) and announce
    offline the agents left with no fresh socket; returns how many rows went."""
    now = now or timezone.now()
    stale = AgentPresence.objects.filter(seen_at__lt=now - PRESENCE_TIMEOUT)
    agent_ids = set(stale.values_list("agent_id", flat=True))
    if not agent_ids:
        return 0
    deleted = 0
    for agent_id in agent_ids:
        with transaction.atomic():
            _lock_agent(agent_id)
            count, _ = stale.filter(agent_id=agent_id).delete()
            deleted += count
            if count and not _fresh(now).filter(agent_id=agent_id).exists():
                publish_presence(agent_id, online=False)
    return deleted


def announce_viewing(*, agent: str, previous: int | None, current: int | None) -> None:
    """Tell the other agents which conversation `agent` now has open; leaving the
    previous one is said explicitly so that its "viewing" marker goes away at once."""
    if previous is not None and previous != current:
        _announce(agent=agent, conversation_id=previous, activity="left")
    if current is not None:
        _announce(agent=agent, conversation_id=current, activity="viewing")


def announce_typing(*, agent: str, conversation_id: int) -> None:
    _announce(agent=agent, conversation_id=conversation_id, activity="typing")


def _announce(*, agent: str, conversation_id: int, activity: str) -> None:
    publish_ephemeral(
        "activity", {"conversation_id": conversation_id, "agent": agent, "activity": activity}
    )
