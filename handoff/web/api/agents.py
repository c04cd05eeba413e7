"""Who the inbox's user is, and the other agents: `/api/me/` and `/api/agents/`.

Views only: the roster's query is `selectors.agents`, who counts as an agent is
`rules.agents`. Nothing here changes a row.
"""

from django.http import HttpRequest, JsonResponse

from handoff.rules.agents import display_name
from handoff.selectors.agents import roster
from handoff.web.api.auth import agent_api


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
