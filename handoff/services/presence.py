"""Who is online: agents with a fresh inbox socket (rows in AgentPresence).

Kept in the database so that every web process sees the same answer. A socket's row
is refreshed by its heartbeat; a process that dies leaves rows that simply age out.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from handoff.events import publish_presence
from handoff.models import AgentPresence

PRESENCE_TIMEOUT = timedelta(seconds=75)  # three missed 25 s heartbeats


def _fresh(now=None):
    return AgentPresence.objects.filter(seen_at__gte=(now or timezone.now()) - PRESENCE_TIMEOUT)


def online_agent_ids() -> set[int]:
    return set(_fresh().values_list("agent_id", flat=True).distinct())


@transaction.atomic
def socket_opened(agent_id: int, channel_name: str) -> None:
    """Record the socket; announce the agent if it is their first fresh one."""
    was_online = _fresh().filter(agent_id=agent_id).exists()
    now = timezone.now()
    AgentPresence.objects.update_or_create(
        channel_name=channel_name, defaults={"agent_id": agent_id, "seen_at": now}
    )
    if not was_online:
        publish_presence(agent_id, online=True)


def heartbeat(channel_name: str) -> None:
    AgentPresence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


@transaction.atomic
def socket_closed(agent_id: int, channel_name: str) -> None:
    """Forget the socket; announce the agent offline if it was their last fresh one."""
    AgentPresence.objects.filter(channel_name=channel_name).delete()
    if not _fresh().filter(agent_id=agent_id).exists():
        publish_presence(agent_id, online=False)
