"""Catching a reconnecting inbox up on the events it missed (docs/websocket.md)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from handoff.events import as_sent, latest_seq
from handoff.models import InboxEvent

MAX_REPLAY = 1000


@dataclass(frozen=True)
class CatchUp:
    events: list[dict]
    latest: int
    resync: bool  # the gap cannot be replayed: reload through the API instead


def catch_up(after: int, *, limit: int = MAX_REPLAY) -> CatchUp:
    """Every event numbered above `after`, in order, or a resync when the gap is too
    old (pruned) or too long to replay."""
    latest = latest_seq()
    if after >= latest:
        return CatchUp(events=[], latest=latest, resync=False)
    oldest_kept = InboxEvent.objects.order_by("pk").values_list("pk", flat=True).first()
    if oldest_kept is None or after < oldest_kept - 1 or latest - after > limit:
        return CatchUp(events=[], latest=latest, resync=True)
    rows = InboxEvent.objects.filter(pk__gt=after, pk__lte=latest).order_by("pk")
    return CatchUp(events=[as_sent(row) for row in rows], latest=latest, resync=False)


def prune_events(now=None) -> int:
    """Delete events older than the retention; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.HANDOFF_EVENT_RETENTION_HOURS)
    deleted, _ = InboxEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
