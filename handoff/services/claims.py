"""Leases on message rows: how a worker takes a row so that no other worker does.

Routing and delivery both claim with a conditional UPDATE that sets `claimed_until`;
a row whose lease has lapsed (its worker was killed) is claimable again. Any number
of threads and processes can compete: the database lets exactly one UPDATE match.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from handoff.models import Message


def unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim_first(
    candidates: QuerySet[Message], *, still_claimable: Q, now: datetime
) -> Message | None:
    """Lease the first candidate that still matches `still_claimable` when we take it.

    The row as read is returned: only its lease can have changed in between, since the
    state that made it a candidate is part of `still_claimable`.
    """
    lease = now + timedelta(seconds=settings.HANDOFF_CLAIM_SECONDS)
    for message in candidates:
        taken = (
            Message.objects.filter(still_claimable, pk=message.pk)
            .filter(unclaimed(now))
            .update(claimed_until=lease)
        )
        if taken:
            return message
    return None
