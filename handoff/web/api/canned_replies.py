"""`/api/canned-replies/`: the replies an agent can insert or send by shortcut.

A view only: what is offered (and which campaign each goes through) is
`selectors.canned_replies`'. Nothing here changes a row.
"""

from django.http import HttpRequest, JsonResponse

from handoff.selectors.canned_replies import active_canned_replies
from handoff.web.api.auth import agent_api


@agent_api("GET")
def canned_replies(request: HttpRequest) -> JsonResponse:
    """Each reply, with the campaign it is sent through (None: inserted as text). A
    reply whose campaign was deactivated is offered as plain text."""
    return JsonResponse({"canned_replies": active_canned_replies()})
