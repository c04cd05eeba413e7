"""The reports page for team leads: the summary of a range (selectors/reports.py) as
headline figures, SVG charts each with its table, and tables per agent, team and topic.

Server-rendered and script-free but for static/reports/tz.js, which puts the browser's
time zone in the form. The query is read by the API's own parser
(`web/api/reports.filter_from_query`), so the page, `/api/reports/summary/` and the CSV
link always mean the same range; a wrong field is shown next to it, never a 500.
Staff and supervisors only (`rules.agents.may_report`), as for the API.
"""

from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from handoff.rules.agents import is_agent, may_report
from handoff.rules.business_hours import time_zone_problem
from handoff.selectors import reports
from handoff.web import charts
from handoff.web.api.errors import ApiError
from handoff.web.api.reports import filter_from_query
from handoff.web.report_format import count, duration, percent

DEFAULT_DAYS = 30
FIELDS = ("from", "to", "tz", "team", "topic", "agent")


@never_cache
@require_safe
def reports_page(request):
    """Anonymous users go to the login page; signed-in users who may not read reports
    get a plain 403 page. Never cached: agents' figures stay off shared computers."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not may_report(request.user):
        return render(request, "reports/forbidden.html", status=403)
    query = _with_defaults(request.GET.copy())
    context = {
        "form": {name: query.get(name, "") for name in FIELDS},
        "choices": reports.filter_choices(),
        "may_answer": is_agent(request.user),
        "errors": {},
    }
    try:
        report = filter_from_query(query)
    except ApiError as error:
        context["errors"] = error.fields
        return render(request, "reports/reports.html", context)
    figures = reports.summary(report, now=timezone.now())
    chosen = {name: query[name] for name in FIELDS if query.get(name)}
    context.update(
        figures=figures,
        headline=headline(figures),
        charts=figure_charts(figures),
        breakdowns=[
            ("agents", _("By agent"), _("Agent"), breakdown_rows(figures["agents"])),
            ("teams", _("By team"), _("Team"), breakdown_rows(figures["teams"])),
            ("topics", _("By topic"), _("Topic"), breakdown_rows(figures["topics"])),
        ],
        csv_url=reverse("api:report-conversations") + "?" + urlencode(chosen),
    )
    return render(request, "reports/reports.html", context)


def _with_defaults(query):
    """The last 30 days up to today (in the chosen zone, else the server's) for a
    date the query does not name at all; an emptied field stays empty (and is an
    error)."""
    zone_name = query.get("tz") or timezone.get_default_timezone_name()
    if time_zone_problem(zone_name):
        zone_name = timezone.get_default_timezone_name()
    today = timezone.now().astimezone(ZoneInfo(zone_name)).date()
    if "to" not in query:
        query["to"] = today.isoformat()
    if "from" not in query:
        query["from"] = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    if not query.get("tz"):
        query["tz"] = timezone.get_default_timezone_name()
    return query


def headline(figures: dict) -> list[tuple[str, str, str]]:
    """The figures at the top of the page: (key, label, value as shown)."""
    volume = figures["conversations"]
    sla = figures["sla"]
    satisfaction = figures["satisfaction"]
    return [
        ("conversations", _("Conversations"), count(volume["total"])),
        ("handed-over", _("Handed over"), count(volume["handed_over"])),
        ("handover-rate", _("Hand-over rate"), percent(volume["handover_rate"])),
        ("containment-rate", _("Containment rate"), percent(volume["containment_rate"])),
        (
            "first-response-p50",
            _("First response, median"),
            duration(figures["first_response"]["p50_seconds"]),
        ),
        (
            "first-response-p90",
            _("First response, 90th percentile"),
            duration(figures["first_response"]["p90_seconds"]),
        ),
        (
            "resolution-p50",
            _("Resolution, median"),
            duration(figures["resolution"]["p50_seconds"]),
        ),
        (
            "resolution-p90",
            _("Resolution, 90th percentile"),
            duration(figures["resolution"]["p90_seconds"]),
        ),
        (
            "sla-first-response",
            _("SLA met: first response"),
            percent(sla["first_response"]["attainment"]),
        ),
        (
            "sla-next-response",
            _("SLA met: next response"),
            percent(sla["next_response"]["attainment"]),
        ),
        ("sla-resolution", _("SLA met: resolution"), percent(sla["resolution"]["attainment"])),
        ("satisfaction-average", _("Satisfaction (1–5)"), count(satisfaction["average"])),
        (
            "survey-response-rate",
            _("Survey response rate"),
            percent(satisfaction["response_rate"]),
        ),
    ]


def figure_charts(figures: dict) -> list:
    """The four charts, each with its table, in the order the page shows them."""
    days = figures["by_day"]
    zone = figures["range"]["tz"]
    reasons = figures["handover_reasons"]
    labels = reports.reason_labels()
    clocks = [
        (_("Wait for an agent"), figures["assignment_wait"]),
        (_("First response"), figures["first_response"]),
        (_("Next response"), figures["next_response"]),
        (_("Resolution"), figures["resolution"]),
    ]
    return [
        charts.columns(
            caption=_("Conversations and hand-overs per day (%(zone)s)") % {"zone": zone},
            corner=_("Day"),
            categories=[day["date"] for day in days],
            series=[
                charts.Series(
                    _("Conversations"), [day["conversations"] for day in days], "series-1"
                ),
                charts.Series(_("Handed over"), [day["handed_over"] for day in days], "series-2"),
            ],
        ),
        charts.heatmap(
            caption=_("Hand-overs by weekday and hour (%(zone)s)") % {"zone": zone},
            corner=_("Weekday"),
            rows=[str(WEEKDAYS_ABBR[n]) for n in range(7)],
            columns=[f"{hour:02d}" for hour in range(24)],
            grid=figures["hour_of_week"],
        ),
        charts.bars(
            caption=_("Hand-over reasons"),
            corner=_("Reason"),
            categories=[labels.get(reason, reason) for reason in reasons],
            series=[charts.Series(_("Hand-overs"), list(reasons.values()), "series-2")],
        ),
        charts.bars(
            caption=_("Response times"),
            corner=_("Clock"),
            categories=[name for name, _figures in clocks],
            series=[
                charts.Series(
                    _("Median"), [clock["p50_seconds"] for _n, clock in clocks], "series-1"
                ),
                charts.Series(
                    _("90th percentile"), [clock["p90_seconds"] for _n, clock in clocks], "series-3"
                ),
            ],
            fmt=duration,
        ),
    ]


def breakdown_rows(groups: list[dict]) -> list[list[str]]:
    """One table row per agent, team or topic: its name, then the figures as shown."""
    return [
        [
            group["name"],
            count(group["first_response"]["count"]),
            duration(group["first_response"]["p50_seconds"]),
            duration(group["first_response"]["p90_seconds"]),
            duration(group["next_response"]["p50_seconds"]),
            duration(group["next_response"]["p90_seconds"]),
            count(group["resolution"]["count"]),
            duration(group["resolution"]["p50_seconds"]),
            duration(group["resolution"]["p90_seconds"]),
            count(group["satisfaction_average"]),
        ]
        for group in groups
    ]
