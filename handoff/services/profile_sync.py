"""Recording chat facts on the customer's Braze profile (custom attributes via /users/track).

Marketers segment on what happened in support: who was escalated and why, when they
were last helped, how often they write, how satisfied they were. Each fact is written
as a `ProfileUpdate` row in the transaction of the change it describes, so the fact
and its outbox row commit together or not at all; a worker sends the rows later in
batches, with the same retries, 429 waits and failure visibility as messages.

Order per customer: a customer's rows are only ever sent together (coalesced into one
object, later values winning), and never while an earlier row of theirs is in flight
or waiting to be retried. So an older value can never reach Braze after a newer one.

This module never talks to Braze itself (`handoff.braze.client` does) and never decides a
conversation's state; with BRAZE_PROFILE_SYNC off it queues nothing.
"""

import logging
import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from handoff.braze.backoff import backoff_seconds
from handoff.braze.client import BrazeClient, BrazeNotConfigured, Outcome, SendResult, TrackResult
from handoff.braze.rate_pause import RatePause
from handoff.jobs import wakeups
from handoff.models import Contact, Conversation, ProfileUpdate
from handoff.telemetry import metrics

logger = logging.getLogger(__name__)

State = ProfileUpdate.State
PENDING = (State.QUEUED, State.RETRYING)

# After a request that drained the backlog (fewer customers than a full batch), the
# next waits this long, so that a steady stream of facts (a shift resolving its queue,
# each commit waking the sender) leaves in full batches, not one request per fact.
# The first fact after a quiet spell still goes at once.
GATHER_SECONDS = 0.5

# Any constant unique among the application's advisory locks ("profile").
CLAIM_LOCK = 0x70726F66696C65

# /users/track has its own rate limit, so a 429 there pauses profile sync only.
_rate_pause = RatePause()
_last_partial_batch = -math.inf  # time.monotonic() of the last request below a full batch


# --- Recording facts (called inside the transaction of the fact) -----------------------


def record_escalation(conversation: Conversation) -> ProfileUpdate | None:
    """The conversation was handed to people: its reason and the customer's count."""
    return queue_attributes(
        contact_id=conversation.contact_id,
        attributes={
            settings.BRAZE_ATTRIBUTE_ESCALATION_REASON: conversation.escalation_reason,
            settings.BRAZE_ATTRIBUTE_CONVERSATION_COUNT: conversation_count(
                conversation.contact_id
            ),
        },
    )


def record_resolution(conversation: Conversation) -> ProfileUpdate | None:
    """The conversation was resolved: when (a Braze time attribute) and the count."""
    return queue_attributes(
        contact_id=conversation.contact_id,
        attributes={
            settings.BRAZE_ATTRIBUTE_RESOLVED_AT: braze_time(
                conversation.resolved_at or timezone.now()
            ),
            settings.BRAZE_ATTRIBUTE_CONVERSATION_COUNT: conversation_count(
                conversation.contact_id
            ),
        },
    )


def record_satisfaction(conversation: Conversation) -> ProfileUpdate | None:
    """The customer answered the satisfaction survey with this score (1-5)."""
    return queue_attributes(
        contact_id=conversation.contact_id,
        attributes={settings.BRAZE_ATTRIBUTE_SATISFACTION: conversation.satisfaction_score},
    )


def conversation_count(contact_id: int) -> int:
    """Every support conversation the customer has had with us, the current one included."""
    return Conversation.objects.filter(contact_id=contact_id).count()


def braze_time(moment: datetime) -> str:
    """Braze stores an ISO 8601 string as a time attribute; UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue_attributes(*, contact_id: int, attributes: dict) -> ProfileUpdate | None:
    """Write the outbox row (attributes with an empty name dropped) and wake the sender
    after commit; None when profile sync is off or nothing is left to record."""
    if not settings.BRAZE_PROFILE_SYNC:
        return None
    attributes = {name: value for name, value in attributes.items() if name}
    if not attributes:
        return None
    now = timezone.now()
    update = ProfileUpdate.objects.create(
        contact_id=contact_id,
        attributes=attributes,
        state=State.QUEUED,
        created_at=now,
        next_attempt_at=now,
    )
    wakeups.wake_after_commit(wakeups.PROFILE)
    return update


# --- Sending ------------------------------------------------------------------------------


def sync_next(client: BrazeClient) -> bool:
    """Send one batch of due profile updates; False when none was due (or gathering)."""
    global _last_partial_batch
    now = timezone.now()
    if _rate_pause.is_active(now):
        return False
    if time.monotonic() - _last_partial_batch < GATHER_SECONDS:
        return False
    size = settings.BRAZE_TRACK_BATCH_SIZE
    rows = claim_batch(now=now, size=size)
    if not rows:
        return False
    if len({row.contact_id for row in rows}) < size:
        _last_partial_batch = time.monotonic()
    send(rows, client)
    return True


@transaction.atomic
def claim_batch(*, now: datetime, size: int) -> list[ProfileUpdate]:
    """Lease every pending row of up to `size` customers, oldest customers first.

    A customer is skipped while any pending row of theirs is leased (in flight) or
    waiting out a backoff, so their newer rows never overtake older ones. Their rows
    are taken all at once, which is why claims are serialised (an advisory lock on
    PostgreSQL, SQLite's one writer) rather than made with SKIP LOCKED: skipping a
    locked row would let a second worker take a newer row of the same customer.
    Claims are a few milliseconds each, so serialising them costs nothing here.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
    pending = ProfileUpdate.objects.filter(state__in=PENDING)
    blocked = pending.filter(Q(next_attempt_at__gt=now) | Q(claimed_until__gte=now)).values(
        "contact_id"
    )
    contact_ids = [
        row["contact_id"]
        for row in pending.exclude(contact_id__in=blocked)
        .values("contact_id")
        .annotate(first=Min("id"))
        .order_by("first")[:size]
    ]
    if not contact_ids:
        return []
    lease = now + timedelta(seconds=settings.HANDOFF_CLAIM_SECONDS)
    pending.filter(contact_id__in=contact_ids).update(claimed_until=lease)
    return list(
        pending.filter(contact_id__in=contact_ids, claimed_until=lease)
        .select_related("contact")
        .order_by("id")
    )


def send(rows: list[ProfileUpdate], client: BrazeClient) -> None:
    """One /users/track request: one object per customer, their rows merged in order."""
    groups: dict[int, list[ProfileUpdate]] = defaultdict(list)
    for row in rows:
        groups[row.contact_id].append(row)
    objects = [attributes_object(group[0].contact, group) for group in groups.values()]
    started = time.perf_counter()
    try:
        answer = client.users_track(attributes=objects)
    except BrazeNotConfigured as error:
        # Not the rows' fault: keep them, so they go out once the settings are fixed.
        answer = TrackResult(SendResult(Outcome.RETRY, error=str(error)))
    else:
        metrics.braze_request(
            endpoint=metrics.USERS_TRACK,
            outcome=answer.result.outcome.value,
            seconds=time.perf_counter() - started,
        )
    record_result(list(groups.values()), answer)


def attributes_object(contact: Contact, rows: list[ProfileUpdate]) -> dict:
    """Braze's attributes object for one customer; later rows' values win.

    `_update_existing_only`: a support fact must never create a Braze user; the
    customer exists there already, since their messages came from Braze.
    """
    merged: dict = {}
    for row in rows:
        merged.update(row.attributes)
    return {**merged, "external_id": contact.external_id, "_update_existing_only": True}


@transaction.atomic
def record_result(groups: list[list[ProfileUpdate]], answer: TrackResult) -> None:
    """Write Braze's answer onto the rows (`groups[i]` were sent as object i)."""
    now = timezone.now()
    result = answer.result
    retry_at = _retry_at(result, groups, now)
    outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        for row in group:
            outcomes[_outcome(row, result, answer, index, now)].append(row.pk)
    for (state, error), ids in outcomes.items():
        changes = {"state": state, "last_error": error, "claimed_until": None}
        if state == State.SENT:
            changes["sent_at"] = now
        elif state == State.RETRYING:
            changes["next_attempt_at"] = retry_at
        ProfileUpdate.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, **changes)
        if state == State.FAILED:
            logger.warning("Profile updates %s failed: %s", ids, error)
        elif state == State.RETRYING:
            logger.info("Profile updates %s will be retried at %s: %s", ids, retry_at, error)


def _outcome(
    row: ProfileUpdate, result: SendResult, answer: TrackResult, index: int, now: datetime
) -> tuple[str, str]:
    if result.outcome is Outcome.ACCEPTED:
        if index in answer.object_errors:
            return State.FAILED, f"Braze refused this profile: {answer.object_errors[index]}"
        return State.SENT, "; ".join(answer.other_errors)
    if result.outcome is Outcome.REJECTED:
        return State.FAILED, result.error
    if now - row.created_at > timedelta(seconds=settings.HANDOFF_DELIVERY_MAX_AGE):
        hours = settings.HANDOFF_DELIVERY_MAX_AGE / 3600
        return (
            State.FAILED,
            f"Gave up after {row.attempts + 1} attempts over {hours:g} h: {result.error}",
        )
    return State.RETRYING, result.error


def _retry_at(result: SendResult, groups: list[list[ProfileUpdate]], now: datetime) -> datetime:
    attempts = 1 + max((row.attempts for group in groups for row in group), default=0)
    backoff = now + timedelta(seconds=backoff_seconds(attempts))
    if result.outcome is Outcome.RATE_LIMITED:
        retry_at = max(result.retry_at or backoff, now)
        _rate_pause.extend(retry_at)
        metrics.BRAZE_RATE_LIMIT_PAUSES.labels(endpoint=metrics.USERS_TRACK).inc()
        return retry_at
    return backoff


# --- By hand ------------------------------------------------------------------------------


@transaction.atomic
def retry_by_hand(*, update_id: int) -> bool:
    """Queue a failed profile update again; False if it was not failed or nothing is left.

    Values a newer update of the same customer has recorded (or will record) since
    are dropped first, so a retry never puts an older value back over a newer one.
    Its age counts from now, so it gets the full retry window again.
    """
    row = ProfileUpdate.objects.filter(pk=update_id, state=State.FAILED).first()
    if row is None:
        return False
    superseded = {
        name
        for attributes in ProfileUpdate.objects.filter(contact_id=row.contact_id, pk__gt=row.pk)
        .exclude(state=State.FAILED)
        .values_list("attributes", flat=True)
        for name in attributes
    }
    remaining = {name: value for name, value in row.attributes.items() if name not in superseded}
    if not remaining:
        return False
    now = timezone.now()
    updated = ProfileUpdate.objects.filter(pk=row.pk, state=State.FAILED).update(
        attributes=remaining,
        state=State.QUEUED,
        created_at=now,
        next_attempt_at=now,
        claimed_until=None,
    )
    if updated:
        wakeups.wake_after_commit(wakeups.PROFILE)
    return bool(updated)


# --- Housekeeping ---------------------------------------------------------------------------

# Sent rows are only an outbox's receipts; Braze holds the attributes. A week is
# enough to answer "did that customer's update go out?"; failed rows stay until
# someone retries or deletes them in admin.
SENT_RETENTION = timedelta(days=7)
PRUNE_BATCH = 500


def prune_sent(now: datetime | None = None, *, batch: int = PRUNE_BATCH) -> int:
    """Delete sent profile updates older than SENT_RETENTION; returns how many went.

    Short batches, each its own commit, so the webhook never waits long for SQLite's
    write lock: call it outside any transaction.
    """
    cutoff = (now or timezone.now()) - SENT_RETENTION
    deleted = 0
    while True:
        ids = list(
            ProfileUpdate.objects.filter(state=State.SENT, sent_at__lt=cutoff).values_list(
                "pk", flat=True
            )[:batch]
        )
        if not ids:
            return deleted
        deleted += ProfileUpdate.objects.filter(pk__in=ids).delete()[0]
