"""The inbox's lists: a queue's page of conversations, how many each queue holds, and
the queue labels to narrow both by (`/api/conversations/`, `/api/counts/`,
`/api/labels/`).

Views only parse the query parameters and answer; every query is `selectors.inbox`'s,
which keeps their number fixed at any size. Nothing here changes a row.
"""

from django.http import HttpRequest, JsonResponse

from handoff.selectors import inbox
from handoff.web.api.auth import agent_api
from handoff.web.api.errors import invalid
from handoff.web.api.input import int_param

MAX_PAGE = 100


@agent_api("GET")
def conversation_list(request: HttpRequest) -> JsonResponse:
    queue = request.GET.get("queue", "") or "waiting"
    if queue not in inbox.QUEUES:
        raise invalid("queue", f"must be one of {', '.join(inbox.QUEUES)}.")
    limit = int_param(request, "limit", default=50, low=1, high=MAX_PAGE)
    label = request.GET.get("label", "").strip()
    if len(label) > inbox.MAX_LABEL_CHARS:
        raise invalid("label", f"a queue label has at most {inbox.MAX_LABEL_CHARS} characters.")
    try:
        page = inbox.conversation_page(
            agent=request.user,
            queue=queue,
            q=request.GET.get("q", ""),
            label=label,
            cursor=request.GET.get("cursor", "").strip(),
            limit=limit,
        )
    except inbox.QueryError as error:
        raise invalid("cursor", str(error)) from error
    return JsonResponse({"conversations": page.conversations, "next_cursor": page.next_cursor})


@agent_api("GET")
def counts(request: HttpRequest) -> JsonResponse:
    label = request.GET.get("label", "")[:100]  # longer than any label: matches none
    return JsonResponse(inbox.counts(agent=request.user, label=label))


@agent_api("GET")
def queue_labels(request: HttpRequest) -> JsonResponse:
    """The queue labels the inbox offers as a filter (topic routes' and open chats')."""
    return JsonResponse({"labels": inbox.queue_labels()})
