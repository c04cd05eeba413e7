"""`/api/campaigns/`: the Braze campaigns an agent may pick to send.

A view only: the list is `selectors.campaigns`'. Sending one is an action on a
conversation (`web.api.conversations.send_campaign`), whose rules are
`services.campaigns`'. Nothing here changes a row.
"""

from django.http import HttpRequest, JsonResponse

from handoff.selectors.campaigns import active_campaigns
from handoff.web.api.auth import agent_api


@agent_api("GET")
def campaign_list(request: HttpRequest) -> JsonResponse:
    """The active campaigns agents may send (templates reach a customer any time)."""
    return JsonResponse({"campaigns": active_campaigns()})
