"""Reports for tools: the summary as JSON and one CSV row per conversation
(docs/api.md, "Reports"). Staff and supervisors only.

The CSV is streamed by an async generator that reads one keyset page at a time: under
daphne, Django reads a *synchronous* streaming iterator into a list before sending
anything (`StreamingHttpResponse.__aiter__`), so the documented sync pattern would hold
a year of rows in memory.
"""

import csv
from collections.abc import AsyncIterator
from datetime import date
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from handoff.rules.agents import may_report
from handoff.rules.business_hours import time_zone_problem
from handoff.rules.report_stats import LocalRange, range_problem, safe_cell
from handoff.selectors import report_export, reports
from handoff.web.api.errors import ApiError, invalid
from handoff.web.json_errors import json_error


def _date(query: QueryDict, name: str) -> date:
    value = query.get(name)
    if not value:
        raise invalid(name, _("this parameter is required (YYYY-MM-DD)."))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(
            name, _("%(value)s is not a date (YYYY-MM-DD).") % {"value": repr(value[:20])}
        ) from None


def report_filter(request: HttpRequest) -> reports.ReportFilter:
    """The range and filters from the query string, each checked, or an ApiError."""
    return filter_from_query(request.GET)


def filter_from_query(query: QueryDict) -> reports.ReportFilter:
    """The range and filters of a query (the API's, or the reports page's form with
    its defaults filled in), each checked, or an ApiError naming the field."""
    first, last = _date(query, "from"), _date(query, "to")
    if problem := range_problem(first, last):
        raise invalid("to", problem)
    zone_name = query.get("tz") or timezone.get_default_timezone_name()
    if problem := time_zone_problem(zone_name):
        raise invalid("tz", problem)
    team_id = None
    if team := query.get("team"):
        if not team.isdigit() or len(team) > 18 or not reports.team_exists(int(team)):
            raise invalid("team", _("there is no such team."))
        team_id = int(team)
    agent_id = None
    if agent := query.get("agent"):
        agent_id = reports.user_id_named(agent)
        if agent_id is None:
            raise invalid("agent", _("there is no such user."))
    topic = query.get("topic")
    return reports.ReportFilter(
        span=LocalRange(first, last, ZoneInfo(zone_name)),
        team_id=team_id,
        topic=topic if topic else None,
        agent_id=agent_id,
    )


def _refusal(user) -> JsonResponse | None:
    if not user.is_authenticated:
        return json_error(401, "Log in first.")
    if not may_report(user):
        return json_error(403, "Only staff and supervisors may read reports.")
    return None


@require_GET
def summary(request: HttpRequest) -> HttpResponse:
    if refusal := _refusal(request.user):
        return refusal
    try:
        report = report_filter(request)
    except ApiError as error:
        return json_error(error.status, error.message, error.fields)
    return JsonResponse(reports.summary(report, now=timezone.now()))


class _Line:
    """csv.writer's file: hands back the line it was asked to write."""

    def write(self, line: str) -> str:
        return line


async def conversations_csv(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return json_error(405, f"Use GET; {request.method} is not allowed here.", Allow="GET")
    user = await request.auser()
    if refusal := await sync_to_async(_refusal)(user):
        return refusal
    try:
        report = await sync_to_async(report_filter)(request)
    except ApiError as error:
        return json_error(error.status, error.message, error.fields)
    name = f"conversations-{report.span.first.isoformat()}-{report.span.last.isoformat()}.csv"
    response = StreamingHttpResponse(_rows(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


async def _rows(report: reports.ReportFilter) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(report_export.EXPORT_COLUMNS)
    after = None
    read_page = sync_to_async(report_export.export_page)
    while True:
        lines, after = await read_page(report, after)
        if lines:
            yield "".join(writer.writerow([safe_cell(cell) for cell in line]) for line in lines)
        if after is None:
            return
