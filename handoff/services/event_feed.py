"""Catching a reconnecting inbox up on the events it missed (docs/websocket.md), and
keeping the feed short.

The feed must never hide a hole: a reader either gets every event after the number it
asks for, or is told to resync. Pruning therefore only ever removes a prefix of the
feed (by number, never by a date that could leave holes in the middle) and always
keeps the newest event, whose number the next hello and catch-up are measured from.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from handoff.events import as_sent, latest_seq
from handoff.models import InboxEvent

MAX_REPLAY = 1000
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class CatchUp:
    events: list[dict]
    latest: int
    resync: bool  # the gap cannot be replayed: reload through the API instead


def catch_up(after: int, *, until: int | None = None, limit: int = MAX_REPLAY) -> CatchUp:
    """Every event numbered above `after` (and up to `until`, when given), in order, or
    a resync when the gap is too old (pruned) or too long to replay.

    A number above the newest event comes from another database (restored or reset):
    what that client holds is unknown, so it resyncs too.
    """
    newest = latest_seq()
    if after < 0 or after > newest:
        return CatchUp(events=[], latest=newest, resync=True)
    latest = newest if until is None else min(until, newest)
    if after >= latest:
        return CatchUp(events=[], latest=latest, resync=False)
    oldest_kept = InboxEvent.objects.order_by("pk").values_list("pk", flat=True).first()
    if oldest_kept is None or after < oldest_kept - 1 or latest - after > limit:
        return CatchUp(events=[], latest=latest, resync=True)
    rows = InboxEvent.objects.filter(pk__gt=after, pk__lte=latest).order_by("pk")
    return CatchUp(events=[as_sent(row) for row in rows], latest=latest, resync=False)


def prune_events(now=None, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the events older than the retention; returns how many went.

    Deletes in batches of short statements, each its own commit, so that on SQLite the
    webhook never waits behind one long delete for the write lock: call it outside any
    transaction.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=settings.HANDOFF_EVENT_RETENTION_HOURS)
    newest = latest_seq()
    horizon = InboxEvent.objects.filter(created_at__lt=cutoff, pk__lt=newest).aggregate(
        horizon=Max("pk")
    )["horizon"]
    if horizon is None:
        return 0
    deleted = 0
    while True:
        # The number of the batch-th oldest event: one short DELETE up to it.
        edge = list(
            InboxEvent.objects.filter(pk__lte=horizon)
            .order_by("pk")
            .values_list("pk", flat=True)[batch - 1 : batch]
        )
        upto = edge[0] if edge else horizon
        count, _ = InboxEvent.objects.filter(pk__lte=upto).delete()
        deleted += count
        if upto >= horizon or count == 0:
            return deleted
