"""Reads that more than one caller needs, in one place (writes live in services)."""

from handoff.models import Conversation, Message

TRANSCRIPT_TURNS = 20


def transcript_before(conversation_id: int, message_id: int, *, limit: int = TRANSCRIPT_TURNS):
    """(author_kind, text) of the conversation's last `limit` messages before one."""
    rows = (
        Message.objects.filter(conversation_id=conversation_id, pk__lt=message_id)
        .order_by("-pk")
        .values_list("author_kind", "text")[:limit]
    )
    return list(reversed(rows))


def conversation_exists(conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id).exists()
