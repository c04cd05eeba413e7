"""Accepting a customer's message from the webhook: store it once, route it later.

Everything the webhook promises Braze happens here in one transaction: the contact,
its open conversation and the message are written together or not at all, and the
message is routed by a background worker after commit, so the HTTP answer never
waits for the bot or for Braze.

Two kinds of repeat are stored once. A Braze retry of the same rendered body has the
same message_id (the dedup key). The same customer message delivered by two webhook
campaigns (a catch-all and a keyword campaign, each with its own dispatch id and
`topic`) is recognised by its content, a different topic and the merge window, and
merged into the copy already stored, which keeps the more specific topic. The merged
copy's dedup key is remembered on the contact, so that Braze retrying that copy
minutes later, long after the merge window, is still the same message.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from handoff.db import statements
from handoff.jobs import wakeups
from handoff.live.events import publish_message_created
from handoff.models import Contact, Conversation, ConversationEvent, Message
from handoff.rules.payloads import InboundPayload, dedup_key
from handoff.services import satisfaction, topics
from handoff.services.transitions import record_event
from handoff.telemetry.metrics import MESSAGES_STORED

_MAX_RACE_RETRIES = 3
# How many of the customer's latest messages the merge check looks at: a copy from a
# second campaign arrives within seconds, and nobody sends ten messages in that time.
MERGE_LOOKBACK = 10
# How long a merged copy's key is remembered: Braze retries for about 30 minutes, and
# spreads retries over up to 24 hours when our host is unreachable.
MERGED_COPY_MEMORY = timedelta(hours=25)
# And how many per customer at most, so that the contact row stays small.
MERGED_COPY_LIMIT = 50


@dataclass(frozen=True)
class Accepted:
    message_id: int
    conversation_id: int
    duplicate: bool
    merged: bool = False


class _MergedCopyRepeated(Exception):
    """Raised inside the store's transaction so that the contact's UPDATE rolls back."""

    def __init__(self, accepted: Accepted):
        super().__init__(accepted)
        self.accepted = accepted


def accept_inbound(payload: InboundPayload) -> Accepted:
    """Store an inbound message exactly once and queue it for routing.

    The unique constraint on (contact, dedup_key) is the one judge of a repeat: the
    insert fails, the whole transaction (contact update included) rolls back, and the
    stored original is returned. Looking first would cost a query on every message
    to save one on the rare retry.
    """
    key = dedup_key(payload)
    attempts_left = _MAX_RACE_RETRIES
    while True:
        try:
            return _store(payload, key)
        except _MergedCopyRepeated as repeated:
            return repeated.accepted
        except IntegrityError:
            if key and (existing := _find_duplicate(payload.user_id, key)):
                return existing
            # A concurrent request created the same contact or conversation first;
            # try again with its row committed. Past the retries it is not a race:
            # let the caller answer 503 so that Braze tries again later.
            attempts_left -= 1
            if not attempts_left:
                raise


def _find_duplicate(external_id: str, key: str) -> Accepted | None:
    row = (
        Message.objects.filter(contact__external_id=external_id, dedup_key=key)
        .values_list("pk", "conversation_id")
        .first()
    )
    return Accepted(message_id=row[0], conversation_id=row[1], duplicate=True) if row else None


@transaction.atomic
def _store(payload: InboundPayload, key: str | None) -> Accepted:
    """Three statements for a known customer: update the contact, touch its open
    conversation, insert the message (written as plain SQL: see handoff.db.statements)."""
    now = timezone.now()
    # Routes are slugs matched without case: "Billing" from a template is "billing".
    topic = topics.normalize_topic(payload.topic)
    contact_id, previous_inbound_at, merged_keys = _upsert_contact(payload, now)
    if key and isinstance(copy := merged_keys.get(key), dict):
        # Braze retrying a copy that was merged into a stored message: the unique
        # constraint cannot see it (its key was never a row's), the window may be over.
        raise _MergedCopyRepeated(
            Accepted(copy["message"], copy["conversation"], duplicate=True, merged=True)
        )
    window = topics.merge_window_seconds()
    # An earlier copy within the window would have set the contact's inbound time in
    # the window, so without one there is nothing to merge and no query to make.
    if window and previous_inbound_at and now - previous_inbound_at <= timedelta(seconds=window):
        # The contact's UPDATE above locks its row until commit (PostgreSQL), so two
        # copies of one message arriving in different processes check in turn. Before
        # the survey check: a score through two campaigns is recorded once.
        merged = _merge_into_earlier_copy(payload, topic, contact_id, now, window, merged_keys, key)
        if merged is not None:
            return merged
    # A score answering the survey of a resolved conversation is recorded there instead.
    if answer := satisfaction.record_answer(
        contact_id=contact_id, payload=payload, dedup_key=key, now=now
    ):
        return Accepted(answer.message_id, answer.conversation_id, duplicate=False)
    specific = topics.specific_topics() if window else frozenset()
    hold = topics.hold_seconds(topic, specific, payload.message)
    conversation_id = _open_conversation(contact_id, topic, now)
    message = Message(
        conversation_id=conversation_id,
        contact_id=contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text=payload.message,
        media_urls=list(payload.media_urls),
        extra=payload.extra,
        topic=topic,
        external_message_id=payload.message_id,
        dedup_key=key,
        routing_state=Message.Routing.PENDING,
        created_at=now,
        # Held: a keyword campaign's copy may still come and route it elsewhere.
        # Claims skip a row until its lease ends, and the customer's later messages
        # wait behind it, so their order holds.
        claimed_until=now + timedelta(seconds=hold) if hold else None,
    )
    statements.insert(message)
    _count_stored_after_commit(message)
    if hold:
        transaction.on_commit(lambda: wakeups.wake_after(wakeups.ROUTING, hold))
    else:
        wakeups.wake_after_commit(wakeups.ROUTING)
    publish_message_created(message)
    return Accepted(message_id=message.pk, conversation_id=conversation_id, duplicate=False)


def _count_stored_after_commit(message: Message) -> None:
    """Count a stored message for `/metrics` once its transaction commits (a rollback,
    or a repeat caught by the unique constraint, stores nothing)."""
    stored = MESSAGES_STORED.labels(direction=message.direction, author_kind=message.author_kind)
    transaction.on_commit(stored.inc)


def _upsert_contact(payload: InboundPayload, now) -> tuple[int, datetime | None, dict]:
    """The contact's id, the time of its previous inbound message (None for a new
    contact) and its merged copies' keys, with its phone, name and last-seen times
    brought up to date.

    A new contact is inserted; two first messages racing to insert it meet the
    unique external_id, and the loser is retried by accept_inbound.
    """
    changes = {"phone_number": payload.phone_number, "last_seen_at": now, "last_inbound_at": now}
    if payload.name:
        changes["name"] = payload.name
    row = statements.update_returning(
        Contact,
        changes,
        where={"external_id": payload.user_id},
        copy={"previous_inbound_at": "last_inbound_at"},
        returning=("previous_inbound_at", "merged_copy_keys"),
    )
    if row is None:
        contact = Contact.objects.create(external_id=payload.user_id, first_seen_at=now, **changes)
        return contact.pk, None, {}
    pk, previous_inbound_at, merged_keys = row
    return pk, previous_inbound_at, merged_keys if isinstance(merged_keys, dict) else {}


def _open_conversation(contact_id: int, topic: str, now) -> int:
    """The id of the contact's open conversation, now marked active, or of a new one
    with the bot (after a resolution, or for a new contact)."""
    conversation_id = statements.update_returning_pk(
        Conversation,
        {"last_message_at": now, "updated_at": now},
        where={"contact": contact_id},
        where_not={"state": Conversation.State.RESOLVED},
    )
    if conversation_id is not None:
        return conversation_id
    conversation = Conversation.objects.create(
        contact_id=contact_id, topic=topic, created_at=now, updated_at=now, last_message_at=now
    )
    record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.OPENED,
        actor_kind=Message.AuthorKind.CUSTOMER,
        data={"topic": topic} if topic else {},
    )
    return conversation.pk


# --- The same message through two campaigns ----------------------------------------


def _merge_candidate_ids(
    payload: InboundPayload, topic: str, contact_id: int, since: datetime
) -> list[int]:
    """Ids of the customer's recent inbound messages with this text, and another topic
    or copies merged into them already (a retry of a merged copy must be found too).

    Plain SQL on the webhook's hot path (see handoff.db.statements): the inner query
    walks the (contact, delivery_state, id) index from the newest row and stops after
    MERGE_LOOKBACK rows, whatever the length of the customer's history; nearly always
    the answer is empty and this is the whole cost of the check.
    """
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    sql = (
        f"SELECT id FROM {table} WHERE id IN ("  # noqa: S608 - names quoted, values bound
        f"SELECT id FROM {table} WHERE contact_id = %s AND delivery_state IS NULL "
        f"ORDER BY id DESC LIMIT {MERGE_LOOKBACK}) "
        "AND direction = %s AND created_at >= %s AND text = %s "
        # The same text and topic is usually the customer writing twice (or a bench's
        # load): ruled out here rather than by loading the rows.
        "AND (topic <> %s OR CAST(extra AS TEXT) LIKE %s) ORDER BY id"
    )
    params = [
        contact_id,
        Message.Direction.INBOUND,
        connection.ops.adapt_datetimefield_value(since),
        payload.message,
        topic,
        '%"merged"%',
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _merged_entries(message: Message) -> list[dict]:
    merged = (message.extra or {}).get("merged")
    if not isinstance(merged, list):
        return []
    return [entry for entry in merged if isinstance(entry, dict)]


def _merge_into_earlier_copy(
    payload: InboundPayload,
    topic: str,
    contact_id: int,
    now: datetime,
    window: float,
    merged_keys: dict,
    key: str | None,
) -> Accepted | None:
    """Merge this copy into the stored copy of the same customer message, if any.

    A copy is the same message when its text and media are equal, it arrived within
    the window, and its topic differs from the stored copy's and from every copy
    merged into it already (the same text twice through one campaign is the customer
    writing twice). The earliest such copy is taken. The stored copy keeps the more
    specific topic, switching only while it is still unrouted.
    """
    ids = _merge_candidate_ids(payload, topic, contact_id, now - timedelta(seconds=window))
    if not ids:
        return None
    media = list(payload.media_urls)
    for stored in Message.objects.filter(pk__in=ids).order_by("pk"):
        if list(stored.media_urls or []) != media:
            continue
        entries = _merged_entries(stored)
        # Every campaign this message came through: its topic now, the merged copies'
        # topics, and the topic a merged copy replaced.
        seen_topics = {stored.topic}
        for entry in entries:
            seen_topics.add(entry.get("topic", ""))
            if "replaced_topic" in entry:
                seen_topics.add(entry["replaced_topic"])
        if topic in seen_topics:
            retried = payload.message_id and any(
                entry.get("message_id") == payload.message_id for entry in entries
            )
            if retried:  # Braze retrying the copy merged already: nothing new
                return _accepted_merge(stored)
            continue
        _record_merge(stored, payload, topic, now, window)
        if key:
            _remember_merged_copy(contact_id, merged_keys, key, stored, now)
        return _accepted_merge(stored)
    return None


def _accepted_merge(stored: Message) -> Accepted:
    return Accepted(
        message_id=stored.pk,
        conversation_id=stored.conversation_id,
        duplicate=True,
        merged=True,
    )


def _record_merge(
    stored: Message, payload: InboundPayload, topic: str, now: datetime, window: float
) -> None:
    """Write the merge on the stored copy and in the conversation's history."""
    specific = topics.specific_topics()
    previous = stored.topic
    upgraded = topics.specificity(topic, specific) > topics.specificity(
        stored.topic, specific
    ) and _take_topic(stored, topic, now, window)
    kept = topic if upgraded else previous
    entry = {"topic": topic, "message_id": payload.message_id, "at": now.isoformat()}
    if upgraded:
        entry["replaced_topic"] = previous
    extra = dict(stored.extra or {})
    extra["merged"] = [*_merged_entries(stored), entry]
    Message.objects.filter(pk=stored.pk).update(extra=extra)
    conversation = Conversation.objects.select_related("contact", "assignee", "team").get(
        pk=stored.conversation_id
    )
    record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.DUPLICATE_MERGED,
        actor_kind=Message.AuthorKind.CUSTOMER,
        data={
            "message_id": stored.pk,
            "topic": kept,
            "merged_topic": topic,
            "previous_topic": previous,
            "external_message_id": payload.message_id,
            "topic_changed": upgraded,
        },
    )


def _remember_merged_copy(
    contact_id: int, merged_keys: dict, key: str, stored: Message, now: datetime
) -> None:
    """Keep the merged copy's key on the contact for as long as Braze may retry it
    (MERGED_COPY_MEMORY), dropping keys older than that and the oldest past the limit."""
    oldest = (now - MERGED_COPY_MEMORY).isoformat()
    kept = sorted(
        (
            (entry["at"], old_key, entry)
            for old_key, entry in merged_keys.items()
            if isinstance(entry, dict) and str(entry.get("at", "")) >= oldest
        ),
        key=lambda item: item[0],
    )[-(MERGED_COPY_LIMIT - 1) :]
    remembered = {old_key: entry for _at, old_key, entry in kept}
    remembered[key] = {
        "message": stored.pk,
        "conversation": stored.conversation_id,
        "at": now.isoformat(),
    }
    Contact.objects.filter(pk=contact_id).update(merged_copy_keys=remembered)


def _take_topic(stored: Message, topic: str, now: datetime, window: float) -> bool:
    """Give the stored copy the more specific topic, if it has not been routed.

    The UPDATE matches only while the row is still pending and its lease is the hold
    set at insert, none, or lapsed: a worker that claimed it in the meantime (and is
    routing it with the old topic) changed the lease, and then the topic stays.
    """
    lease = stored.claimed_until
    is_hold = lease == stored.created_at + timedelta(seconds=window)
    if lease is not None and lease > now and not is_hold:
        return False  # a worker is routing it right now
    rows = Message.objects.filter(pk=stored.pk, routing_state=Message.Routing.PENDING)
    rows = (
        rows.filter(claimed_until__isnull=True)
        if lease is None
        else rows.filter(claimed_until=lease)
    )
    if not rows.update(topic=topic, claimed_until=None):
        return False
    stored.topic, stored.claimed_until = topic, None
    wakeups.wake_after_commit(wakeups.ROUTING)
    return True
