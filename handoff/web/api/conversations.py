"""One conversation: its pane, and the actions agents take on it.

Views only parse and answer; every rule (who may claim, transfer or reply, and what
wins a race) lives in `handoff.services.conversations`.
"""

from typing import TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse

from handoff.live.events import message_data, note_data
from handoff.rules.agents import is_agent
from handoff.rules.campaign_properties import CampaignInvalid
from handoff.rules.payloads import MAX_MESSAGE_CHARS
from handoff.selectors import inbox
from handoff.selectors.agents import user_named
from handoff.selectors.conversations import conversation_exists
from handoff.selectors.messages import conversation_has_message, newest_message_id
from handoff.services import campaigns, notes
from handoff.services import conversations as service
from handoff.services.read_marks import mark_read
from handoff.web.api.auth import agent_api
from handoff.web.api.errors import ApiError, invalid
from handoff.web.api.input import json_body, optional_id, required_string

if TYPE_CHECKING:
    from handoff.models import Conversation


@agent_api("GET")
def conversation_detail(request: HttpRequest, conversation_id: int) -> JsonResponse:
    pane = inbox.conversation_pane(conversation_id=conversation_id, agent=request.user)
    if pane is None:
        raise _no_conversation(conversation_id)
    return JsonResponse(pane)


def _action(act):
    """An action without a body: run the service, answer the changed summary."""

    @agent_api("POST")
    def view(request: HttpRequest, conversation_id: int) -> JsonResponse:
        _ensure_exists(conversation_id)
        conversation = act(conversation_id=conversation_id, agent=request.user)
        return _changed(conversation, request)

    view.__name__ = act.__name__
    return view


claim = _action(service.claim)
take_over = _action(service.take_over)
release = _action(service.release)
resolve = _action(service.resolve)


@agent_api("POST")
def transfer(request: HttpRequest, conversation_id: int) -> JsonResponse:
    to = required_string(json_body(request), "to").strip()
    if not to:
        raise invalid("to", "give the username of the agent to transfer to.")
    _ensure_exists(conversation_id)
    to_agent = user_named(to)
    if to_agent is None:
        raise invalid("to", f"there is no agent named {to[:150]!r}.")
    if not is_agent(to_agent):
        raise invalid("to", f"{to} is not an active agent.")
    conversation = service.transfer(
        conversation_id=conversation_id, agent=request.user, to_agent=to_agent
    )
    return _changed(conversation, request)


@agent_api("POST")
def reply(request: HttpRequest, conversation_id: int) -> JsonResponse:
    text = required_string(json_body(request), "text", multiline=True)
    if not text.strip():
        raise invalid("text", "a reply cannot be empty.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise invalid(
            "text",
            f"a reply is limited to {MAX_MESSAGE_CHARS:,} characters (WhatsApp's limit); "
            f"this one has {len(text):,}.",
        )
    _ensure_exists(conversation_id)
    message = service.send_agent_reply(
        conversation_id=conversation_id, agent=request.user, text=text
    )
    return JsonResponse({"message": message_data(message)}, status=201)


@agent_api("POST")
def add_note(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """A private note: any agent, any conversation, any state; never sent to anyone
    but the agents. The answer names the `@names` that notified no one."""
    text = required_string(json_body(request), "text", multiline=True)
    if not text.strip():
        raise invalid("text", "a note cannot be empty.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise invalid(
            "text",
            f"a note is limited to {MAX_MESSAGE_CHARS:,} characters; this one has {len(text):,}.",
        )
    _ensure_exists(conversation_id)
    try:
        added = notes.add_note(conversation_id=conversation_id, agent=request.user, text=text)
    except notes.NoteInvalid as error:
        raise invalid("text", f"{error}") from error
    except ObjectDoesNotExist as error:  # erased between the check and the note
        raise _no_conversation(conversation_id) from error
    return JsonResponse(
        {
            "note": note_data(added.note, mentions=added.mentioned),
            "unresolved_mentions": added.unresolved,
        },
        status=201,
    )


@agent_api("POST")
def send_campaign(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """A campaign (a template when the 24-hour window is closed) with its properties."""
    body = json_body(request)
    key = required_string(body, "campaign").strip()
    properties = body.get("properties", {})
    if not isinstance(properties, dict):
        raise invalid("properties", "must be an object of property names and texts.")
    _ensure_exists(conversation_id)
    try:
        message = campaigns.send_campaign(
            conversation_id=conversation_id, agent=request.user, campaign=key, properties=properties
        )
    except CampaignInvalid as error:
        raise ApiError(400, error.message, error.fields) from error
    return JsonResponse({"message": message_data(message)}, status=201)


@agent_api("POST")
def read(request: HttpRequest, conversation_id: int) -> HttpResponse:
    message_id = optional_id(json_body(request), "message_id")
    _ensure_exists(conversation_id)
    if message_id is None:
        message_id = newest_message_id(conversation_id)
        if message_id is None:
            return HttpResponse(status=204)  # nothing to read yet
    elif not conversation_has_message(conversation_id=conversation_id, message_id=message_id):
        raise invalid("message_id", f"conversation {conversation_id} has no message {message_id}.")
    mark_read(agent=request.user, conversation_id=conversation_id, message_id=message_id)
    return HttpResponse(status=204)


def _changed(conversation: "Conversation", request: HttpRequest) -> JsonResponse:
    summary = inbox.summary(conversation_id=conversation.pk, agent=request.user)
    return JsonResponse({"conversation": summary})


def _ensure_exists(conversation_id: int) -> None:
    if not conversation_exists(conversation_id):
        raise _no_conversation(conversation_id)


def _no_conversation(conversation_id: int) -> ApiError:
    return ApiError(404, f"There is no conversation {conversation_id}.")
