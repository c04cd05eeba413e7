"""Acting on one message: retrying a delivery that failed (ownership as for a reply)."""

from django.http import HttpRequest, JsonResponse

from handoff.live.events import message_data
from handoff.models import Message
from handoff.services.conversations import retry_failed_message
from handoff.web.api.auth import agent_api
from handoff.web.api.errors import ApiError


@agent_api("POST")
def retry(request: HttpRequest, message_id: int) -> JsonResponse:
    if not Message.objects.filter(pk=message_id).exists():
        raise ApiError(404, f"There is no message {message_id}.")
    queued = retry_failed_message(message_id=message_id, agent=request.user)
    message = Message.objects.select_related("author", "campaign").get(pk=message_id)
    if not queued:
        return JsonResponse(
            {
                "error": "Only a failed message can be retried; this one is "
                f"{message.delivery_state or 'a message from the customer'}.",
                "fields": {},
                "message": message_data(message),
            },
            status=409,
        )
    return JsonResponse({"message": message_data(message)})
