"""The inbox JSON API under /api/ (docs/api.md)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path, register_converter

from handoff.web.api import (
    agents,
    campaigns,
    canned_replies,
    conversations,
    events,
    messages,
    queues,
    reports,
    supervisor,
)
from handoff.web.json_errors import json_error


class IdConverter:
    """A row id: at most 18 digits, so it always fits the database's 64-bit integer
    (a longer one would fail in the database instead of being a plain 404)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


def unknown_endpoint(request: HttpRequest) -> JsonResponse:
    """Callers of the API get JSON even for a path that does not exist."""
    return json_error(404, f"There is no API endpoint {request.path}; see docs/api.md.")


app_name = "api"
conversation = "conversations/<id:conversation_id>/"
urlpatterns = [
    path("me/", agents.me, name="me"),
    path("me/status/", agents.my_status, name="my-status"),
    path("agents/", agents.agents, name="agents"),
    path("counts/", queues.counts, name="counts"),
    path("canned-replies/", canned_replies.canned_replies, name="canned-replies"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("events/", events.events, name="events"),
    path("conversations/", queues.conversation_list, name="conversations"),
    path("labels/", queues.queue_labels, name="labels"),
    path(conversation, conversations.conversation_detail, name="conversation"),
    path(conversation + "claim/", conversations.claim, name="claim"),
    path(conversation + "take-over/", conversations.take_over, name="take-over"),
    path(conversation + "transfer/", conversations.transfer, name="transfer"),
    path(conversation + "release/", conversations.release, name="release"),
    path(conversation + "resolve/", conversations.resolve, name="resolve"),
    path(conversation + "reply/", conversations.reply, name="reply"),
    path(conversation + "send-campaign/", conversations.send_campaign, name="send-campaign"),
    path(conversation + "notes/", conversations.add_note, name="notes"),
    path(conversation + "read/", conversations.read, name="read"),
    path("messages/<id:message_id>/retry/", messages.retry, name="retry"),
    path("supervisor/", supervisor.desk, name="supervisor"),
    path("reports/summary/", reports.summary, name="report-summary"),
    path("reports/conversations.csv", reports.conversations_csv, name="report-conversations"),
    re_path(r"^", unknown_endpoint),
]
