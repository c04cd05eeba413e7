"""The small reads the inbox needs around conversations: me, agents, counts, canned
replies, campaigns and the event catch-up."""

from django.http import HttpRequest, JsonResponse

from handoff.live.feed import catch_up
from handoff.rules.agents import display_name
from handoff.selectors import inbox
from handoff.selectors.agents import roster
from handoff.selectors.campaigns import active_campaigns
from handoff.selectors.canned_replies import active_canned_replies
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
    return JsonResponse({"canned_replies": active_canned_replies()})


@agent_api("GET")
def campaign_list(request: HttpRequest) -> JsonResponse:
    """The active campaigns agents may send (templates reach a customer any time)."""
    return JsonResponse({"campaigns": active_campaigns()})


@agent_api("GET")
def events(request: HttpRequest) -> JsonResponse:
    after = int_param(request, "after", default=None, low=0)
    result = catch_up(after)
    return JsonResponse({"events": result.events, "latest": result.latest, "resync": result.resync})
