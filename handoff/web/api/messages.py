"""Acting on one message: retrying a delivery that failed (ownership as for a reply)."""

from django.http import HttpRequest, JsonResponse

from handoff.live.events import message_data
from handoff.selectors.messages import message_as_shown, message_exists
from handoff.services.conversations import retry_failed_message
from handoff.web.api.auth import agent_api
from handoff.web.api.errors import ApiError


@agent_api("POST")
def retry(request: HttpRequest, message_id: int) -> JsonResponse:
    if not message_exists(message_id):
        raise ApiError(404, f"There is no message {message_id}.")
    queued = retry_failed_message(message_id=message_id, agent=request.user)
    message = message_as_shown(message_id)
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
