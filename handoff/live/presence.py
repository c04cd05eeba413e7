"""Who is online (rows in AgentPresence), what each agent chose (available or away) and
how much they hold (their seat), and what agents are doing (activity notices).

Presence is kept in the database so that every web process sees the same answer. A
socket's row is refreshed by its heartbeat. A closed socket's row stays fresh for
HANDOFF_OFFLINE_GRACE_SECONDS after it closed, so that a reload (the old socket closes,
the new one opens a second later) or a short network drop never shows the agent
offline and back. A process that dies leaves rows that stop being fresh too. Going
offline is therefore time passing, with no socket left to say so: the workers sweep
rows that are no longer fresh (`forget_stale_sockets`) and announce those agents
offline.

Whenever what the others see of an agent changes (online, status, capacity, how many
open conversations they hold), `announce` publishes a `presence` event with all of it,
so that a client only ever replaces what it knew of that agent.

Activity (viewing, typing, left) is not a change: it is a notice with no number, not
stored, not replayed (docs/websocket.md).

This module never changes an agent's choices or a conversation (services/seats.py and
services/conversations.py do); it reads them to announce them.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from handoff.live.events import publish_ephemeral, publish_presence
from handoff.models import AgentPresence, AgentSeat, Conversation
from handoff.rules.agents import AVAILABLE, OFFLINE, shown_status

PRESENCE_TIMEOUT = timedelta(seconds=75)  # three missed 25 s heartbeats


def grace() -> timedelta:
    """How long a closed socket still counts (read at each call: tests shorten it)."""
    return timedelta(seconds=settings.HANDOFF_OFFLINE_GRACE_SECONDS)


def sweep_seconds() -> float:
    """How often the workers look for agents whose grace (or heartbeat) ran out: a
    third of that time, so an agent is announced offline at most a third late, and at
    most every half second (one query on a table of open sockets)."""
    window = grace().total_seconds() or PRESENCE_TIMEOUT.total_seconds()
    return max(0.5, min(window, PRESENCE_TIMEOUT.total_seconds()) / 3)


def fresh(now: datetime | None = None) -> Q:
    """The rows that keep their agent online at `now`: an open socket that beat within
    PRESENCE_TIMEOUT, or a closed one within the grace period."""
    now = now or timezone.now()
    return Q(closed_at__isnull=True, seen_at__gte=now - PRESENCE_TIMEOUT) | Q(
        closed_at__gte=now - grace()
    )


def _stale(now: datetime) -> Q:
    return Q(closed_at__isnull=True, seen_at__lt=now - PRESENCE_TIMEOUT) | Q(
        closed_at__lt=now - grace()
    )


def _fresh(now: datetime | None = None):
    return AgentPresence.objects.filter(fresh(now))


def online_agent_ids(now: datetime | None = None) -> set[int]:
    return set(_fresh(now).values_list("agent_id", flat=True).distinct())


def online_usernames() -> list[str]:
    """The online agents' usernames, sorted, as the socket's hello lists them."""
    users = get_user_model().objects.filter(pk__in=online_agent_ids())
    return sorted(user.get_username() for user in users)


# --- Seats: what each agent chose and holds ------------------------------------------


@dataclass(frozen=True)
class Seat:
    status: str  # the agent's choice: available or away (offline is not chosen)
    capacity: int  # admin's number for them, or HANDOFF_DEFAULT_CAPACITY
    open_count: int  # conversations assigned to them now
    last_assigned_at: datetime | None = None  # when handoff last gave them one
    status_changed_at: datetime | None = None  # when they last chose available or away


def seats(agent_ids: Collection[int]) -> dict[int, Seat]:
    """Each agent's seat, in two queries for any number of agents. An agent with no
    seat row yet is available with the default capacity, as a new row would say."""
    ids = list(agent_ids)
    chosen = {
        agent_id: rest
        for agent_id, *rest in AgentSeat.objects.filter(agent_id__in=ids)
        .order_by()
        .values_list("agent_id", "status", "capacity", "last_assigned_at", "status_changed_at")
    }
    load = dict(
        Conversation.objects.filter(state=Conversation.State.ASSIGNED, assignee_id__in=ids)
        .order_by()
        .values("assignee_id")
        .annotate(count=Count("pk"))
        .values_list("assignee_id", "count")
    )
    default = settings.HANDOFF_DEFAULT_CAPACITY
    result = {}
    for agent_id in ids:
        status, capacity, last_assigned_at, changed = chosen.get(
            agent_id, (AVAILABLE, None, None, None)
        )
        result[agent_id] = Seat(
            status, capacity or default, load.get(agent_id, 0), last_assigned_at, changed
        )
    return result


def announce(agent_id: int, *, now: datetime | None = None) -> dict | None:
    """Publish everything the others see of this agent (in the caller's transaction,
    pushed after it commits); the event, or None when the agent no longer exists."""
    user = get_user_model().objects.filter(pk=agent_id).first()
    if user is None:
        return None
    online = _fresh(now).filter(agent_id=agent_id).exists()
    seat = seats([agent_id])[agent_id]
    return publish_presence(
        agent=user.get_username(),
        online=online,
        status=shown_status(seat.status, online=online),
        capacity=seat.capacity,
        open_count=seat.open_count,
    )


def announce_online_seat(*, agent_id: int, username: str, status: str, capacity: int) -> dict:
    """`announce` for a caller that has just seen the agent online and holds their
    seat row locked (so `status` and `capacity` are current): only their load is read
    again, in the caller's transaction, as `announce` would."""
    return publish_presence(
        agent=username,
        online=True,
        status=shown_status(status, online=True),
        capacity=capacity,
        open_count=_open_count(agent_id),
    )


def _open_count(agent_id: int) -> int:
    return Conversation.objects.filter(
        state=Conversation.State.ASSIGNED, assignee_id=agent_id
    ).count()


def announce_gone(username: str) -> int:
    """A deleted agent is offline and holds nothing (their user row is gone already)."""
    return publish_presence(
        agent=username,
        online=False,
        status=OFFLINE,
        capacity=settings.HANDOFF_DEFAULT_CAPACITY,
        open_count=0,
    )


# --- Sockets ------------------------------------------------------------------------------


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
    """Record the socket; announce the agent if it is their first fresh one (a socket
    closed within the grace period still counts: a reload announces nothing)."""
    if not _lock_agent(agent_id):
        return
    was_online = _fresh().filter(agent_id=agent_id).exists()
    now = timezone.now()
    AgentPresence.objects.update_or_create(
        channel_name=channel_name,
        defaults={"agent_id": agent_id, "seen_at": now, "closed_at": None},
    )
    if not was_online:
        announce(agent_id, now=now)


def heartbeat(channel_name: str, *, agent_id: int | None = None) -> None:
    """Keep the socket fresh. A socket whose row was swept as stale (a throttled
    background tab) is recorded again, and its agent announced again if need be."""
    updated = AgentPresence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())
    if not updated and agent_id is not None:
        socket_opened(agent_id, channel_name)


@transaction.atomic
def socket_closed(agent_id: int, channel_name: str, *, now: datetime | None = None) -> None:
    """The socket closed. Its row keeps the agent online for the grace period, and the
    sweep announces them offline once it ends with no socket of theirs open again.
    With no grace (0), or a row that had gone stale, the row goes at once and the agent
    is announced offline here if it was their last fresh one (a deleted agent was
    announced offline by their deletion)."""
    now = now or timezone.now()
    exists = _lock_agent(agent_id)
    rows = AgentPresence.objects.filter(channel_name=channel_name)
    if grace() and rows.filter(fresh(now)).update(closed_at=now):
        return
    deleted, _ = rows.delete()
    if deleted and exists and not _fresh(now).filter(agent_id=agent_id).exists():
        announce(agent_id, now=now)


def forget_stale_sockets(now: datetime | None = None) -> int:
    """Delete the rows that no longer keep their agent online (a grace period that
    ended, a process that died) and announce offline the agents left with no fresh
    socket; returns how many rows went."""
    now = now or timezone.now()
    stale = AgentPresence.objects.filter(_stale(now))
    agent_ids = set(stale.values_list("agent_id", flat=True))
    deleted = 0
    for agent_id in agent_ids:
        with transaction.atomic():
            _lock_agent(agent_id)
            count, _ = stale.filter(agent_id=agent_id).delete()
            deleted += count
            if count and not _fresh(now).filter(agent_id=agent_id).exists():
                announce(agent_id, now=now)
    return deleted


# --- Activity notices -------------------------------------------------------------------


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
