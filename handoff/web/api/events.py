"""`/api/events/?after=`: the socket's catch-up over HTTP (docs/websocket.md).

A view only: the feed, its horizon and when to answer `resync` are `live.feed`'s.
Nothing here changes a row.
"""

from django.http import HttpRequest, JsonResponse

from handoff.live.feed import catch_up
from handoff.web.api.auth import agent_api
from handoff.web.api.input import int_param


@agent_api("GET")
def events(request: HttpRequest) -> JsonResponse:
    after = int_param(request, "after", default=None, low=0)
    result = catch_up(after)
    return JsonResponse({"events": result.events, "latest": result.latest, "resync": result.resync})
