"""The supervisor view's snapshot (docs/api.md, "Supervisor view"): staff and supervisors."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from handoff.rules.agents import may_report
from handoff.selectors import supervision
from handoff.web.json_errors import json_error


@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return json_error(401, "Log in first.")
    if not may_report(request.user):
        return json_error(403, "Only staff and supervisors may watch the desk.")
    return JsonResponse(supervision.snapshot(now=timezone.now()))
