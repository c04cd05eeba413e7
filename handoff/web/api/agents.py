"""Who the inbox's user is and the status they choose, and the other agents:
`/api/me/`, `/api/me/status/` and `/api/agents/`.

Views only: the reads are `selectors.agents`, the status change is `services.seats`,
who counts as an agent is `rules.agents`.
"""

from django.http import HttpRequest, JsonResponse

from handoff.rules.agents import CHOSEN_STATUSES, OFFLINE
from handoff.selectors import agents as selectors
from handoff.services import seats
from handoff.web.api.auth import agent_api
from handoff.web.api.input import json_body, required_choice

WHY_NOT = {OFFLINE: "offline is not chosen, it follows from having no inbox open"}


@agent_api("GET")
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.me(request.user))


@agent_api("POST")
def my_status(request: HttpRequest) -> JsonResponse:
    """Choose available or away; answers `/api/me/` as it is then."""
    status = required_choice(json_body(request), "status", CHOSEN_STATUSES, why_not=WHY_NOT)
    seats.set_status(agent=request.user, status=status)
    return JsonResponse(selectors.me(request.user))


@agent_api("GET")
def agents(request: HttpRequest) -> JsonResponse:
    """Who a chat can be transferred to: each agent's status and load."""
    return JsonResponse({"agents": selectors.roster()})
