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

from handoff.live.events import as_sent, latest_seq
from handoff.models import InboxEvent

MAX_REPLAY = 1000
PRUNED = "feed.pruned"  # the marker row: every event up to its number was pruned
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class CatchUp:
    events: list[dict]
    latest: int
    resync: bool  # the gap cannot be replayed: reload through the API instead


def catch_up(after: int, *, until: int | None = None, limit: int = MAX_REPLAY) -> CatchUp:
    """Every event numbered above `after` (and up to `until`, when given), in order, or
    a resync when the gap is too old (pruned) or too long to replay.

    Numbers may have holes: a transaction that rolled back took its number with it
    (PostgreSQL's sequences never give one back), so only the pruning marker, never
    a missing number, says that events were lost to this reader.

    A number above the newest event comes from another database (restored or reset):
    what that client holds is unknown, so it resyncs too.
    """
    newest = latest_seq()
    if after < 0 or after > newest:
        return CatchUp(events=[], latest=newest, resync=True)
    latest = newest if until is None else min(until, newest)
    if after >= latest:
        return CatchUp(events=[], latest=latest, resync=False)
    pruned_through = (
        InboxEvent.objects.filter(kind=PRUNED).order_by("-pk").values_list("pk", flat=True).first()
    )
    if (pruned_through is not None and after < pruned_through) or latest - after > limit:
        return CatchUp(events=[], latest=latest, resync=True)
    rows = InboxEvent.objects.filter(pk__gt=after, pk__lte=latest).order_by("pk")
    return CatchUp(events=[as_sent(row) for row in rows], latest=latest, resync=False)


def prune_events(now=None, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the events older than the retention; returns how many went.

    The newest pruned event is not deleted but becomes the marker (kind PRUNED) that
    tells catch_up where the feed now starts, and the newest event of all is always
    kept, so numbering goes on from it. Deletes in batches of short statements, each
    its own commit, so that on SQLite the webhook never waits behind one long delete
    for the write lock: call it outside any transaction.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=settings.HANDOFF_EVENT_RETENTION_HOURS)
    newest = latest_seq()
    horizon = InboxEvent.objects.filter(created_at__lt=cutoff, pk__lt=newest).aggregate(
        horizon=Max("pk")
    )["horizon"]
    if horizon is None:
        return 0
    marked = (
        InboxEvent.objects.filter(pk=horizon)
        .exclude(kind=PRUNED)
        .update(kind=PRUNED, conversation_id=None, payload={})
    )
    deleted = 0
    while True:
        # The number of the batch-th oldest event: one short DELETE up to it.
        edge = list(
            InboxEvent.objects.filter(pk__lt=horizon)
            .order_by("pk")
            .values_list("pk", flat=True)[batch - 1 : batch]
        )
        if not edge and not InboxEvent.objects.filter(pk__lt=horizon).exists():
            return deleted + marked
        upto = edge[0] if edge else horizon - 1
        count, _ = InboxEvent.objects.filter(pk__lte=upto).exclude(kind=PRUNED).delete()
        InboxEvent.objects.filter(pk__lte=upto, kind=PRUNED).delete()  # earlier markers
        deleted += count
