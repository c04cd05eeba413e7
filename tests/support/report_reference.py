"""The reports' summary as first written (issue 16, step 3): every fact row of the
range read into Python and counted there. Kept as the reference the summary computed in
the database is checked against (tests/test_reports_summary_reference.py on SQLite,
`make bench`'s reports phase on PostgreSQL): same input, the very same figures.
"""

from collections import Counter, defaultdict
from datetime import date, datetime

from django.db.models import Q
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate

from handoff.models import Conversation
from handoff.rules.report_stats import Durations, rate
from handoff.selectors.reports import (
    CLOCKS,
    NOT_CUSTOMER_WAITS,
    SETTLED_AFTER,
    Kind,
    ReportFilter,
    State,
)


def summary(report: ReportFilter, *, now: datetime) -> dict:
    """Every figure of the reports page, every fact row read into Python."""
    zone = report.span.zone
    volume = _volume(report, now=now)
    facts = list(
        report.facts(*CLOCKS, Kind.ASSIGNMENT).values_list(
            "kind",
            "seconds",
            "business_seconds",
            "reason",
            "agent__username",
            "team__name",
            "topic",
            "sla_met",
            "survey_sent",
            "satisfaction_score",
        )
    )
    breaches = Counter(report.facts(Kind.SLA_BREACH).values_list("reason", flat=True))
    handovers = list(
        report.facts(Kind.HANDOVER)
        .annotate(
            weekday=ExtractIsoWeekDay("ended_at", tzinfo=zone),
            hour=ExtractHour("ended_at", tzinfo=zone),
        )
        .values_list("reason", "weekday", "hour", "seconds")
    )
    return {
        "range": {
            "from": report.span.first.isoformat(),
            "to": report.span.last.isoformat(),
            "tz": zone.key,
        },
        "conversations": volume["totals"],
        "by_day": volume["by_day"],
        "handover_reasons": dict(sorted(Counter(reason for reason, *_ in handovers).items())),
        "bot_seconds_before_handover": Durations.of(
            [seconds for reason, _w, _h, seconds in handovers if reason not in NOT_CUSTOMER_WAITS]
        ).as_dict(),
        "hour_of_week": _hour_of_week(handovers),
        **_durations(facts),
        "sla": _attainment(facts, breaches),
        "satisfaction": _satisfaction(facts),
        "agents": _breakdown(facts, by=4),
        "teams": _breakdown(facts, by=5),
        "topics": _breakdown(facts, by=6),
    }


def _volume(report: ReportFilter, *, now: datetime) -> dict:
    """Conversations created per local day: handed over, contained, still with the bot."""
    zone = report.span.zone
    settled = Q(state=State.RESOLVED) | Q(last_message_at__lte=now - SETTLED_AFTER)
    settled_ids = set(
        report.conversations()
        .filter(escalated_at__isnull=True)
        .filter(settled)
        .values_list("pk", flat=True)
    )
    per_day: dict[date, Counter] = defaultdict(Counter)
    for conversation_id, day, escalated_at, kind in (
        report.conversations()
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values_list("pk", "day", "escalated_at", "escalation_kind")
    ):
        counts = per_day[day]
        counts["conversations"] += 1
        if escalated_at is not None:
            counts["handed_over"] += 1
            if kind == Conversation.EscalationKind.TOPIC:
                counts["routed_to_agents"] += 1
        elif conversation_id in settled_ids:
            counts["contained"] += 1
        else:
            counts["still_with_bot"] += 1
    total = sum(per_day.values(), Counter())
    with_bot = total["conversations"] - total["routed_to_agents"]
    return {
        "totals": {
            "total": total["conversations"],
            "handed_over": total["handed_over"],
            "handover_rate": rate(total["handed_over"], total["conversations"]),
            "contained": total["contained"],
            "containment_rate": rate(total["contained"], with_bot),
            "still_with_bot": total["still_with_bot"],
            "routed_to_agents": total["routed_to_agents"],
        },
        "by_day": [
            {
                "date": day.isoformat(),
                "conversations": per_day[day]["conversations"],
                "handed_over": per_day[day]["handed_over"],
                "contained": per_day[day]["contained"],
            }
            for day in report.span.days()
        ],
    }


def _durations(facts: list[tuple]) -> dict:
    wall: dict[str, list[float]] = defaultdict(list)
    business: dict[str, list[float]] = defaultdict(list)
    takeovers = 0
    for kind, seconds, business_seconds, reason, *_ in facts:
        if kind == Kind.FIRST_RESPONSE and reason in NOT_CUSTOMER_WAITS:
            takeovers += 1
            continue
        wall[kind].append(seconds)
        business[kind].append(seconds if business_seconds is None else business_seconds)
    result = {}
    for kind, name in (
        (Kind.ASSIGNMENT, "assignment_wait"),
        (Kind.FIRST_RESPONSE, "first_response"),
        (Kind.NEXT_RESPONSE, "next_response"),
        (Kind.RESOLUTION, "resolution"),
    ):
        figures = Durations.of(wall[kind]).as_dict()
        in_hours = Durations.of(business[kind])
        figures["business_p50_seconds"] = in_hours.p50
        figures["business_p90_seconds"] = in_hours.p90
        result[name] = figures
    result["first_response"]["not_customer_waits"] = takeovers
    return result


def _attainment(facts: list[tuple], breaches: Counter) -> dict:
    met = Counter(kind for kind, *_, sla_met, _s, _c in facts if sla_met is True)
    result = {}
    for kind in CLOCKS:
        missed = breaches.get(kind.value, 0)
        result[kind.value] = {
            "met": met[kind],
            "missed": missed,
            "attainment": rate(met[kind], met[kind] + missed),
        }
    return result


def _satisfaction(facts: list[tuple]) -> dict:
    resolutions = [row for row in facts if row[0] == Kind.RESOLUTION]
    sent = [row for row in resolutions if row[8]]
    scores = [row[9] for row in resolutions if row[9] is not None]
    return {
        "surveys_sent": len(sent),
        "answers": len(scores),
        "response_rate": rate(len([row for row in sent if row[9] is not None]), len(sent)),
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        "distribution": {str(score): scores.count(score) for score in range(1, 6)},
    }


def _breakdown(facts: list[tuple], *, by: int) -> list[dict]:
    """Per agent, team or topic (the column `by` of the fact rows): response and
    resolution figures, and satisfaction."""
    groups: dict[str, list[tuple]] = defaultdict(list)
    for row in facts:
        if row[by]:
            groups[row[by]].append(row)
    result = []
    for name in sorted(groups):
        rows = groups[name]
        first = [
            r[1] for r in rows if r[0] == Kind.FIRST_RESPONSE and r[3] not in NOT_CUSTOMER_WAITS
        ]
        resolutions = [r[1] for r in rows if r[0] == Kind.RESOLUTION]
        scores = [r[9] for r in rows if r[0] == Kind.RESOLUTION and r[9] is not None]
        result.append(
            {
                "name": name,
                "first_response": Durations.of(first).as_dict(),
                "next_response": Durations.of(
                    [r[1] for r in rows if r[0] == Kind.NEXT_RESPONSE]
                ).as_dict(),
                "resolution": Durations.of(resolutions).as_dict(),
                "satisfaction_average": round(sum(scores) / len(scores), 2) if scores else None,
            }
        )
    return result


def _hour_of_week(handovers: list[tuple]) -> list[list[int]]:
    """Hand-overs per ISO weekday (rows, Monday first) and local hour (columns)."""
    grid = [[0] * 24 for _ in range(7)]
    for _reason, weekday, hour, _seconds in handovers:
        grid[weekday - 1][hour] += 1
    return grid
