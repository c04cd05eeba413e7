"""What the queues hold right now, for operators' gauges (`GET /metrics`).

Read from the rows when a scrape asks, not counted in memory: the routing and delivery
queues and the waiting conversations are shared by every process, so only the database
knows them, and it still knows them after a process is killed. A fixed number of
queries (one per queue) on the queues' own indexes, whatever their size. Never writes.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from handoff.models import Conversation, Message, ProfileUpdate, Team


@dataclass(frozen=True)
class Queue:
    """How many items wait, and how long the oldest has (0 when none)."""

    items: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class Operations:
    routing: Queue
    # By delivery state: "queued" (never tried) and "retrying".
    delivery: dict[str, Queue]
    # By team name; "" is the conversations no team owns. Every team appears, with 0.
    waiting: dict[str, Queue]
    profile_updates: Queue


def operations(*, now: datetime | None = None) -> Operations:
    """The queues as they stand at `now`."""
    now = now or timezone.now()
    routing = Message.objects.filter(routing_state=Message.Routing.PENDING).aggregate(
        items=Count("id"), oldest=Min("created_at")
    )
    delivery = {state: Queue(0, 0.0) for state in Message.PENDING_DELIVERY}
    for row in (
        Message.objects.filter(delivery_state__in=list(Message.PENDING_DELIVERY))
        .values("delivery_state")
        .annotate(items=Count("id"), oldest=Min("queued_at"))
        .order_by()
    ):
        delivery[row["delivery_state"]] = _queue(row, now)
    waiting = {"": Queue(0, 0.0)} | {name: Queue(0, 0.0) for name in _team_names()}
    for row in (
        Conversation.objects.filter(state=Conversation.State.WAITING)
        .values("team__name")
        .annotate(items=Count("id"), oldest=Min("escalated_at"))
        .order_by()
    ):
        waiting[row["team__name"] or ""] = _queue(row, now)
    # Profile updates share the messages' delivery states (queued, retrying).
    profile = ProfileUpdate.objects.filter(state__in=list(Message.PENDING_DELIVERY)).aggregate(
        items=Count("id"), oldest=Min("created_at")
    )
    return Operations(
        routing=_queue(routing, now),
        delivery=delivery,
        waiting=waiting,
        profile_updates=_queue(profile, now),
    )


def _team_names() -> list[str]:
    return list(Team.objects.values_list("name", flat=True))


def _queue(row: dict, now: datetime) -> Queue:
    oldest = row["oldest"]
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return Queue(items=row["items"], oldest_age_seconds=age)
