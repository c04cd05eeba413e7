"""Reads about single messages: whether one exists, one as the inbox shows it, and a
conversation's newest one (the default for a read mark, the end of a bot trial's
transcript).

It never changes a row; retrying, marking read and sending are services.
"""

from handoff.models import Message


def message_exists(message_id: int) -> bool:
    """Whether the message is there, so that acting on a missing one is a 404 before
    any service runs."""
    return Message.objects.filter(pk=message_id).exists()


def message_as_shown(message_id: int) -> Message:
    """The message with what `live.events.message_data` reads from other rows (its
    author and campaign) loaded in the same query."""
    return Message.objects.select_related("author", "campaign").get(pk=message_id)


def newest_message_id(conversation_id: int) -> int | None:
    """The id of the conversation's latest message; None while it has none. Walks the
    (conversation, id) index from its end, so it costs the same for any length."""
    return (
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


def conversation_has_message(*, conversation_id: int, message_id: int) -> bool:
    """Whether `message_id` belongs to the conversation: a read mark may only point at
    one of the conversation's own messages."""
    return Message.objects.filter(conversation_id=conversation_id, pk=message_id).exists()
