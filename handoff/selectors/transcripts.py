"""A conversation's recent turns as bots read them (the routed bot and the admin's trial).

It never changes a row, and returns plain (author_kind, text) pairs so that the bots
need nothing of the models to use them.
"""

from handoff.models import Message

TRANSCRIPT_TURNS = 20


def transcript_before(conversation_id: int, message_id: int, *, limit: int = TRANSCRIPT_TURNS):
    """(author_kind, text) of the conversation's last `limit` messages before one."""
    rows = (
        Message.objects.filter(conversation_id=conversation_id, pk__lt=message_id)
        .order_by("-pk")
        .values_list("author_kind", "text")[:limit]
    )
    return list(reversed(rows))
