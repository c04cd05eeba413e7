"""Queueing messages to the customer: stored first, sent later by delivery."""

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from handoff import wakeups
from handoff.events import publish_message_created
from handoff.models import Conversation, Message


def queue_outbound(
    *,
    conversation: Conversation,
    text: str,
    author_kind: str,
    author: AbstractBaseUser | None = None,
    extra: dict | None = None,
    touch_conversation: bool = True,
) -> Message:
    """Store a message as `queued`; background delivery sends it after commit.

    Callers hold the transaction that decided the message may be sent, so the
    decision and the queued row commit together or not at all.
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
        delivery_state=Message.Delivery.QUEUED,
        queued_at=now,
        next_attempt_at=now,
        created_at=now,
    )
    if touch_conversation:  # False when the caller's own UPDATE already did
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now, updated_at=now)
    conversation.last_message_at = now
    wakeups.wake_after_commit(wakeups.DELIVERY)
    publish_message_created(message)
    return message
