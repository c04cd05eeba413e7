"""Queueing messages to the customer: stored first, sent later by delivery."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.live.events import publish_message_created
from handoff.models import BrazeCampaign, Conversation, Message
from handoff.telemetry.metrics import MESSAGES_STORED


def queue_outbound(
    *,
    conversation: Conversation,
    text: str,
    author_kind: str,
    author: AbstractBaseUser | None = None,
    extra: dict | None = None,
    touch_conversation: bool = True,
    campaign: BrazeCampaign | None = None,
    campaign_properties: dict[str, str] | None = None,
) -> Message:
    """Store a message as `queued`; background delivery sends it after commit.

    Callers hold the transaction that decided the message may be sent, so the
    decision and the queued row commit together or not at all. Without `campaign`
    the text goes through the settings' reply campaign; with one, delivery sends
    `campaign_properties` through it and `text` is what the transcript shows. Both
    kinds share one queue, so a template never overtakes an earlier reply.
    """
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.OUTBOUND,
        author_kind=author_kind,
        author=author,
        text=text,
        extra=extra or {},
        campaign=campaign,
        campaign_properties=campaign_properties or {},
        delivery_state=Message.Delivery.QUEUED,
        queued_at=now,
        next_attempt_at=now,
        created_at=now,
    )
    if touch_conversation:  # False when the caller's own UPDATE already did
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now, updated_at=now)
    conversation.last_message_at = now
    # Counted for /metrics once stored for good (a rolled-back decision sends nothing).
    transaction.on_commit(
        MESSAGES_STORED.labels(direction=message.direction, author_kind=author_kind).inc
    )
    wakeups.wake_after_commit(wakeups.DELIVERY)
    publish_message_created(message)
    return message
