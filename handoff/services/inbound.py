"""Accepting a customer's message from the webhook: store it once, route it later.

Everything the webhook promises Braze happens here in one transaction: the contact,
its open conversation and the message are written together or not at all, and the
message is routed by a background worker after commit, so the HTTP answer never
waits for the bot or for Braze.
"""

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff import wakeups
from handoff.db import statements
from handoff.events import publish_conversation_changed, publish_message_created
from handoff.models import Contact, Conversation, ConversationEvent, Message
from handoff.payloads import InboundPayload
from handoff.services import satisfaction

_MAX_RACE_RETRIES = 3


@dataclass(frozen=True)
class Accepted:
    message_id: int
    conversation_id: int
    duplicate: bool


def dedup_key(payload: InboundPayload) -> str | None:
    """Braze retries resend the same rendered body, so (message_id, content) is the key.

    Content is part of it so that two different messages never collapse into one,
    even if a template fills message_id with something less unique than dispatch_id.
    """
    if not payload.message_id:
        return None
    material = "\x1f".join([payload.message_id, payload.message, *payload.media_urls])
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


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
    contact_id = _upsert_contact(payload, now)
    # A score answering the survey of a resolved conversation is recorded there instead.
    if answer := satisfaction.record_answer(
        contact_id=contact_id, payload=payload, dedup_key=key, now=now
    ):
        return Accepted(answer.message_id, answer.conversation_id, duplicate=False)
    conversation_id = _open_conversation(contact_id, payload.topic, now)
    message = Message(
        conversation_id=conversation_id,
        contact_id=contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text=payload.message,
        media_urls=list(payload.media_urls),
        extra=payload.extra,
        external_message_id=payload.message_id,
        dedup_key=key,
        routing_state=Message.Routing.PENDING,
        created_at=now,
    )
    statements.insert(message)
    wakeups.wake_after_commit(wakeups.ROUTING)
    publish_message_created(message)
    return Accepted(message_id=message.pk, conversation_id=conversation_id, duplicate=False)


def _upsert_contact(payload: InboundPayload, now) -> int:
    """The contact's id, its phone, name and last-seen times brought up to date.

    A new contact is inserted; two first messages racing to insert it meet the
    unique external_id, and the loser is retried by accept_inbound.
    """
    changes = {"phone_number": payload.phone_number, "last_seen_at": now, "last_inbound_at": now}
    if payload.name:
        changes["name"] = payload.name
    contact_id = statements.update_returning_pk(
        Contact, changes, where={"external_id": payload.user_id}
    )
    if contact_id is None:
        return Contact.objects.create(external_id=payload.user_id, first_seen_at=now, **changes).pk
    return contact_id


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
    event = ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.OPENED,
        actor_kind=Message.AuthorKind.CUSTOMER,
        data={"topic": topic} if topic else {},
    )
    publish_conversation_changed(conversation, event)
    return conversation.pk
