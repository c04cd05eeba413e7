"""The events agents' browsers receive: one builder per kind, one publish path.

Both the services (which publish) and the inbox consumer (which relays) use these
shapes, documented in docs/websocket.md. Events are published only after the
transaction that caused them commits, so a browser never sees a change that was
rolled back.
"""

from django.db import transaction

from handoff.broadcast import send_to_agents
from handoff.models import Conversation, ConversationEvent, Message


def message_data(message: Message) -> dict:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "author_kind": message.author_kind,
        "author": message.author.get_username() if message.author_id else None,
        "text": message.text,
        "media_urls": message.media_urls,
        "created_at": message.created_at.isoformat(),
        "delivery": delivery_data(message)
        if message.direction == Message.Direction.OUTBOUND
        else None,
    }


def delivery_data(message: Message) -> dict:
    return {
        "state": message.delivery_state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat() if message.next_attempt_at else None,
        "last_error": message.last_error,
        "dispatch_id": message.dispatch_id,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
    }


def conversation_data(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "contact_id": conversation.contact_id,
        "state": conversation.state,
        "assignee": conversation.assignee.get_username() if conversation.assignee_id else None,
        "escalation_reason": conversation.escalation_reason,
        "escalated_at": conversation.escalated_at.isoformat()
        if conversation.escalated_at
        else None,
        "last_message_at": conversation.last_message_at.isoformat(),
    }


def event_data(event: ConversationEvent) -> dict:
    return {
        "id": event.pk,
        "conversation_id": event.conversation_id,
        "kind": event.kind,
        "actor_kind": event.actor_kind,
        "actor": event.actor.get_username() if event.actor_id else None,
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def publish(kind: str, data: dict) -> None:
    """Send `{type: kind, ...}` to every agent once the current transaction commits."""
    transaction.on_commit(lambda: send_to_agents({"type": kind, **data}))


def publish_message_created(message: Message) -> None:
    publish("message.created", {"message": message_data(message)})


def publish_delivery_changed(message: Message) -> None:
    publish(
        "message.delivery",
        {
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "delivery": delivery_data(message),
        },
    )


def publish_conversation_changed(
    conversation: Conversation, event: ConversationEvent | None
) -> None:
    publish(
        "conversation.updated",
        {
            "conversation": conversation_data(conversation),
            "event": event_data(event) if event else None,
        },
    )
