"""An agent's seat: choosing available or away in the inbox, the capacity admin sets,
and telling every inbox when an agent's load moved.

Each change locks the agent's seat row (made on first use, `lock_seat`) and publishes
the agent's whole presence in the same transaction, pushed after it commits, so every
inbox shows it at once. The conversation services call `announce_load` after they
change who holds a conversation, so the inboxes see each agent's open count move.

Nothing here changes a conversation. Choosing away records nothing on any conversation
and takes none away from the agent: it is about the agent, not their chats.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.live import presence
from handoff.models import AgentSeat
from handoff.rules.agents import AVAILABLE, CHOSEN_STATUSES, capacity_problem
from handoff.selectors.agents import agent_users


def lock_seat(agent_id: int) -> AgentSeat:
    """The agent's seat, made if they had none and locked until the transaction ends:
    the one lock every change to an agent's seat takes, so two changes (two tabs, an
    admin and the agent) apply one after the other, on PostgreSQL as on SQLite."""
    seat = AgentSeat.objects.select_for_update().filter(agent_id=agent_id).first()
    if seat is not None:
        return seat
    AgentSeat.objects.bulk_create([AgentSeat(agent_id=agent_id)], ignore_conflicts=True)
    return AgentSeat.objects.select_for_update().get(agent_id=agent_id)


@transaction.atomic
def set_status(*, agent: AbstractBaseUser, status: str) -> AgentSeat:
    """The agent chooses available or away; every inbox sees it. Choosing what they
    already have changes nothing and announces nothing."""
    if status not in CHOSEN_STATUSES:
        raise ValueError(f"A status is available or away, not {status!r}.")
    seat = lock_seat(agent.pk)
    if seat.status != status:
        seat.status = status
        seat.status_changed_at = timezone.now()
        seat.save(update_fields=["status", "status_changed_at"])
        presence.announce(agent.pk)
        if status == AVAILABLE:
            wakeups.wake_after_commit(wakeups.ASSIGNMENT)
    return seat


@transaction.atomic
def set_capacity(*, agent_id: int, capacity: int | None) -> AgentSeat:
    """Admin sets how many open conversations the agent holds at once (None: the
    default, HANDOFF_DEFAULT_CAPACITY); every inbox sees the new number. Conversations
    the agent already holds stay theirs, even above a lowered capacity."""
    if capacity is not None and (problem := capacity_problem(capacity)):
        raise ValueError(f"The capacity {problem}.")
    seat = lock_seat(agent_id)
    if seat.capacity != capacity:
        seat.capacity = capacity
        seat.save(update_fields=["capacity"])
        presence.announce(agent_id)
        wakeups.wake_after_commit(wakeups.ASSIGNMENT)  # raised: room for more
    return seat


def announce_load(*agent_ids: int | None) -> None:
    """Tell the inboxes these agents' open counts, after a conversation changed hands.

    Call it in the transaction that made the change, after its `record_event`: on
    PostgreSQL that holds the feed's numbering lock, so two changes for one agent
    count one after the other and the later event has the later count.
    """
    for agent_id in dict.fromkeys(agent_id for agent_id in agent_ids if agent_id is not None):
        presence.announce(agent_id)


def ensure_seats() -> int:
    """Give every agent without a seat row one with the defaults (what reads assume for
    them anyway), so that admin's list shows every agent; returns how many were made."""
    missing = agent_users().filter(seat__isnull=True).values_list("pk", flat=True)
    created = AgentSeat.objects.bulk_create(
        [AgentSeat(agent_id=agent_id) for agent_id in missing], ignore_conflicts=True
    )
    return len(created)
