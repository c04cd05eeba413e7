"""How the API says no: one exception for request problems, one answer for conflicts.

Views raise `ApiError` instead of building responses, so every refusal has the shape
docs/api.md promises (`{"error", "fields"}` from `handoff.web.json_errors.json_error`).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.http import JsonResponse

from handoff.selectors import inbox
from handoff.services.conversations import ConversationConflict


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}


def invalid(field: str, problem: str) -> ApiError:
    """A 400 naming the one field that is wrong."""
    return ApiError(400, f"Invalid {field}: {problem}", {field: problem})


def conflict_response(conflict: ConversationConflict, agent: AbstractBaseUser) -> JsonResponse:
    """409 with the conversation as it is now, so the inbox can show why at once."""
    conversation = conflict.conversation
    return JsonResponse(
        {
            "error": conflict.message,
            "fields": {},
            "assignee": conversation.assignee.get_username() if conversation.assignee_id else None,
            "conversation": inbox.summary(conversation_id=conversation.pk, agent=agent),
        },
        status=409,
    )
