"""Erasing a customer on request, and forgetting old conversations after the retention.

An erasure removes, in one transaction, every row that holds the customer's data (the
contact, their conversations, messages, agents' notes on them, audit trail, read
marks, profile updates not yet sent, and admin log lines about those rows), deletes
every event of the agents' feed that carried it, tells open inboxes to drop the
conversations, and records that it happened. The retention prune does the same for
resolved conversations older than HANDOFF_RETENTION_DAYS, in short batches, and then
removes contacts left with nothing.

This module must never keep, log or return who was erased: the record holds a keyed
digest of the external id and counts of rows, nothing else. It does not touch Braze:
what Braze holds is removed there (docs/deploy.md, "Erasing a customer").
"""

import hashlib
import hmac
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from handoff.live.events import publish_conversations_erased
from handoff.live.feed import PRUNED
from handoff.models import (
    Contact,
    Conversation,
    ConversationEvent,
    ConversationRead,
    ErasureRecord,
    InboxEvent,
    Message,
    Note,
    ProfileUpdate,
)
from handoff.services import seats

logger = logging.getLogger(__name__)

Source = ErasureRecord.Source

# What an erasure or a prune reports, always with every key, in this order.
COUNT_KEYS = (
    "contacts",
    "conversations",
    "messages",
    "queued_messages",  # of the messages: replies not yet sent to Braze, cancelled
    "notes",  # agents' private notes on the conversations
    "conversation_events",
    "read_marks",
    "profile_updates",
    "queued_profile_updates",  # of the profile updates: not yet sent to Braze, cancelled
    "inbox_events",
    "admin_log_entries",
)
_DELETED_KEYS = {
    Contact._meta.label: "contacts",
    Conversation._meta.label: "conversations",
    Message._meta.label: "messages",
    Note._meta.label: "notes",
    ConversationEvent._meta.label: "conversation_events",
    ConversationRead._meta.label: "read_marks",
    ProfileUpdate._meta.label: "profile_updates",
}
# Retention works in transactions this small, so it never holds the write lock long.
RETENTION_BATCH = 100
_DELETE_CHUNK = 500


class UnknownContact(Exception):
    """No contact has this external id: never seen, or erased already (`erased_before`
    then holds the records)."""

    def __init__(self, *, erased_before: list[ErasureRecord]):
        super().__init__("No contact has this external id.")
        self.erased_before = erased_before


@dataclass(frozen=True)
class Erasure:
    record: ErasureRecord
    counts: dict[str, int]
    conversation_ids: list[int]


def subject_digest(external_id: str, *, key: str | None = None) -> str:
    """HMAC-SHA256 of the external id keyed with SECRET_KEY: whoever holds the id can
    check it against a record later, but the record alone names no one."""
    secret = settings.SECRET_KEY if key is None else key
    return hmac.new(
        secret.encode(), external_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def erasures_of(external_id: str) -> list[ErasureRecord]:
    """The records of this external id's erasures, newest first. Digests made with a
    previous SECRET_KEY are found while that key is listed in SECRET_KEY_FALLBACKS."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    digests = {subject_digest(external_id, key=key) for key in keys}
    return list(ErasureRecord.objects.filter(subject_digest__in=digests))


@transaction.atomic
def erase_contact(*, external_id: str, source: str, requested_by: str = "") -> Erasure:
    """Remove everything handoff holds about one customer and record that it did.

    The contact row is locked first, so a message from the same customer arriving
    meanwhile waits and then creates a fresh contact (as for a first message), and no
    worker can attach a new row to the old one. Raises UnknownContact, having written
    nothing, when no contact has this external id.
    """
    contact = Contact.objects.select_for_update().filter(external_id=external_id).first()
    if contact is None:
        raise UnknownContact(erased_before=erasures_of(external_id))
    contact_id, phone_number = contact.pk, contact.phone_number
    conversation_ids = list(contact.conversations.order_by("pk").values_list("pk", flat=True))
    holders = list(
        contact.conversations.filter(state=Conversation.State.ASSIGNED).values_list(
            "assignee_id", flat=True
        )
    )
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["queued_messages"] = Message.objects.filter(
        contact=contact, delivery_state__in=Message.PENDING_DELIVERY
    ).count()
    counts["queued_profile_updates"] = contact.profile_updates.filter(
        state__in=(ProfileUpdate.State.QUEUED, ProfileUpdate.State.RETRYING)
    ).count()
    counts["admin_log_entries"] = _scrub_admin_log(
        contacts=Contact.objects.filter(pk=contact_id),
        conversations=Conversation.objects.filter(pk__in=conversation_ids),
        messages=Message.objects.filter(contact_id=contact_id),
        profile_updates=ProfileUpdate.objects.filter(contact_id=contact_id),
    )
    _, deleted = contact.delete()
    counts.update(_deleted_counts(deleted))
    # After the delete: a worker's transaction that wrote an event about these rows
    # held them, so the delete waited for its commit and the scrub now sees its event.
    counts["inbox_events"] = _scrub_feed(
        conversation_ids, contact_id=contact_id, values=(external_id, phone_number)
    )
    if conversation_ids:
        publish_conversations_erased(conversation_ids, reason="erasure")
    seats.announce_load(*holders)  # an open conversation of theirs is gone
    record = ErasureRecord.objects.create(
        subject_digest=subject_digest(external_id),
        source=source,
        requested_by=requested_by[:150],
        erased_at=timezone.now(),
        counts=counts,
    )
    logger.info("Erasure %s (%s): removed %s", record.pk, source, _summary(counts))
    return Erasure(record=record, counts=counts, conversation_ids=conversation_ids)


def _deleted_counts(deleted: dict[str, int]) -> dict[str, int]:
    counts: Counter = Counter()
    for label, count in deleted.items():
        if label in _DELETED_KEYS:
            counts[_DELETED_KEYS[label]] += count
    return dict(counts)


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[key]} {key}" for key in COUNT_KEYS if counts.get(key))


def _json_forms(value: str) -> set[str]:
    """How a string value reads inside stored JSON: escaped (Django's encoder on
    SQLite) and unescaped (PostgreSQL's jsonb text)."""
    return {json.dumps(value), json.dumps(value, ensure_ascii=False)}


def _scrub_feed(
    conversation_ids: list[int], *, contact_id: int | None = None, values: tuple[str, ...] = ()
) -> int:
    """Delete the feed's events about these conversations, and any other event whose
    payload names the contact (by id, or holds one of `values` such as their external
    id or phone number as a JSON string); returns how many went.

    Events today carry customer data only with their conversation's id; the search by
    content catches any kind that might not (counts, presence). Deleting leaves holes
    in the numbering, which readers already take in their stride
    (a rolled-back transaction leaves one too); the pruning marker is never touched.
    """
    named = Q(pk__in=[])
    for value in values:
        for form in _json_forms(value) if value else ():
            named |= Q(payload_text__contains=form)
    if contact_id is not None:
        for ending in (",", "}"):
            named |= Q(payload_text__contains=f'"contact_id": {contact_id}{ending}')
    # Only events tied to no conversation are searched by content: another
    # conversation's event that happens to hold the same string stays.
    mentions = Q(conversation_id__in=conversation_ids) | Q(conversation_id__isnull=True) & named
    ids = list(
        InboxEvent.objects.exclude(kind=PRUNED)
        .annotate(payload_text=Cast("payload", TextField()))
        .filter(mentions)
        .values_list("pk", flat=True)
    )
    deleted = 0
    for start in range(0, len(ids), _DELETE_CHUNK):
        deleted += InboxEvent.objects.filter(pk__in=ids[start : start + _DELETE_CHUNK]).delete()[0]
    return deleted


def _scrub_admin_log(
    *,
    contacts: QuerySet,
    conversations: QuerySet,
    messages: QuerySet,
    profile_updates: QuerySet,
) -> int:
    """Delete admin's history lines about these rows: each keeps the row's name as it
    was shown (a contact's name or number, a message's first words)."""
    targets = Q()
    for rows in (contacts, conversations, messages, profile_updates):
        keys = rows.annotate(object_key=Cast("pk", CharField())).values("object_key")
        content_type = ContentType.objects.get_for_model(rows.model)
        targets |= Q(content_type=content_type, object_id__in=keys)
    return LogEntry.objects.filter(targets).delete()[0]


# --- Retention ------------------------------------------------------------------------------


def prune_retention(
    now: datetime | None = None,
    *,
    days: float | None = None,
    batch: int = RETENTION_BATCH,
    requested_by: str = "",
) -> dict[str, int]:
    """Remove resolved conversations whose resolution is older than the retention
    (HANDOFF_RETENTION_DAYS, or `days`), with their messages and events, then contacts
    left with no conversation who have not written since; returns the counts ({} when
    no retention is set).

    Each batch is its own short transaction, so the webhook never waits long for the
    write lock: call it outside any transaction. A conversation with a message still
    queued for Braze or still to be routed waits for a later run. One ErasureRecord
    (source retention, no subject) sums up a run that removed anything.
    """
    days = settings.HANDOFF_RETENTION_DAYS if days is None else days
    if not days:
        return {}
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    totals: Counter = Counter()
    while _prune_conversations(cutoff, batch, totals):
        pass
    while _prune_contacts(cutoff, batch, totals):
        pass
    counts = {key: totals[key] for key in COUNT_KEYS}
    if any(counts.values()):
        ErasureRecord.objects.create(
            subject_digest="",
            source=Source.RETENTION,
            requested_by=requested_by[:150],
            erased_at=now,
            counts=counts,
        )
        logger.info("Retention of %g days: removed %s", days, _summary(counts))
    return counts


@transaction.atomic
def _prune_conversations(cutoff: datetime, batch: int, totals: Counter) -> bool:
    busy = Message.objects.filter(conversation=OuterRef("pk")).filter(
        Q(delivery_state__in=Message.PENDING_DELIVERY) | Q(routing_state=Message.Routing.PENDING)
    )
    # Locked, skipping rows in use: a template reopening one of them meanwhile wins.
    ids = list(
        Conversation.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=Conversation.State.RESOLVED, resolved_at__lt=cutoff)
        .exclude(Exists(busy))
        .order_by("resolved_at", "pk")
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return False
    conversations = Conversation.objects.filter(pk__in=ids)
    totals["admin_log_entries"] += _scrub_admin_log(
        contacts=Contact.objects.none(),
        conversations=conversations,
        messages=Message.objects.filter(conversation_id__in=ids),
        profile_updates=ProfileUpdate.objects.none(),
    )
    _, deleted = conversations.delete()
    totals.update(_deleted_counts(deleted))
    totals["inbox_events"] += _scrub_feed(ids)
    publish_conversations_erased(ids, reason="retention")
    return True


@transaction.atomic
def _prune_contacts(cutoff: datetime, batch: int, totals: Counter) -> bool:
    """Contacts with no conversation left who have not written since the cutoff. A
    customer writing right now holds their row (skipped) or has moved last_seen_at."""
    has_conversation = Conversation.objects.filter(contact=OuterRef("pk"))
    ids = list(
        Contact.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(last_seen_at__lt=cutoff)
        .exclude(Exists(has_conversation))
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return False
    contacts = Contact.objects.filter(pk__in=ids)
    totals["queued_profile_updates"] += ProfileUpdate.objects.filter(
        contact_id__in=ids, state__in=(ProfileUpdate.State.QUEUED, ProfileUpdate.State.RETRYING)
    ).count()
    totals["admin_log_entries"] += _scrub_admin_log(
        contacts=contacts,
        conversations=Conversation.objects.none(),
        messages=Message.objects.none(),
        profile_updates=ProfileUpdate.objects.filter(contact_id__in=ids),
    )
    _, deleted = contacts.delete()
    totals.update(_deleted_counts(deleted))
    return True
