"""The small reads the inbox needs around conversations: me, agents, counts, canned
replies, campaigns and the event catch-up."""

from django.http import HttpRequest, JsonResponse

from handoff.live.feed import catch_up
from handoff.models import CannedReply
from handoff.rules.agents import display_name
from handoff.selectors import inbox
from handoff.selectors.agents import roster
from handoff.services import campaigns
from handoff.web.api.auth import agent_api
from handoff.web.api.input import int_param


@agent_api("GET")
def me(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {
            "username": user.get_username(),
            "display_name": display_name(user),
            "is_staff": user.is_staff,
        }
    )


@agent_api("GET")
def agents(request: HttpRequest) -> JsonResponse:
    """Who a chat can be transferred to, and who of them is online."""
    return JsonResponse({"agents": roster()})


@agent_api("GET")
def counts(request: HttpRequest) -> JsonResponse:
    label = request.GET.get("label", "")[:100]  # longer than any label: matches none
    return JsonResponse(inbox.counts(agent=request.user, label=label))


@agent_api("GET")
def canned_replies(request: HttpRequest) -> JsonResponse:
    """Each reply, with the campaign it is sent through (None: inserted as text). A
    reply whose campaign was deactivated is offered as plain text."""
    rows = (
        CannedReply.objects.filter(is_active=True).select_related("campaign").order_by("shortcut")
    )
    return JsonResponse({"canned_replies": [_canned(row) for row in rows]})


def _canned(row: CannedReply) -> dict:
    campaign = row.campaign if row.campaign_id and row.campaign.is_active else None
    return {
        "shortcut": row.shortcut,
        "title": row.title,
        "text": row.text,
        "campaign": {**campaigns.describe(campaign), "properties": row.campaign_properties}
        if campaign
        else None,
    }


@agent_api("GET")
def campaign_list(request: HttpRequest) -> JsonResponse:
    """The active campaigns agents may send (templates reach a customer any time)."""
    return JsonResponse(
        {"campaigns": [campaigns.describe(c) for c in campaigns.active_campaigns()]}
    )


@agent_api("GET")
def events(request: HttpRequest) -> JsonResponse:
    after = int_param(request, "after", default=None, low=0)
    result = catch_up(after)
    return JsonResponse({"events": result.events, "latest": result.latest, "resync": result.resync})
