"""Reads about one conversation by its id, for the callers that only need to know it is
there before acting on it (the API's actions, the socket's viewing and typing frames).

It never changes a row, and it never loads what a caller would only check: a 404 is
decided on an EXISTS, not on a fetched row.
"""

from handoff.models import Conversation


def conversation_exists(conversation_id: int) -> bool:
    """Whether the conversation is there: an API action answers 404 before its service
    runs, and a socket refuses a frame about a conversation that is not."""
    return Conversation.objects.filter(pk=conversation_id).exists()
