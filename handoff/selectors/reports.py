"""Reads for reports: the summary a reports page, `/api/reports/summary/` and a BI tool
share, and the filter a report and its export (selectors/report_export.py) cover.

Definitions (docs/api.md, "Reports"): conversations are placed in the range by their
creation, every interval by its end (a reply, a resolve, an assignment, a hand-over, a
breach). Agent times come from `ReportFact` rows (services/reporting.py), so they
start at the hand-over and never include the bot's time. Percentiles are nearest rank
(rules/report_stats.py): PostgreSQL's `percentile_disc`, the same rule in Python on
SQLite (selectors/percentiles.py).

Counted and ranked in the database, so a month of 100,000 conversations is never read
into Python (docs/benchmarks.md, "Reports"); a fixed number of queries per summary,
whatever the range; never writes.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils.translation import gettext

from handoff.db.functions import QuarterHour
from handoff.models import Conversation, ReportFact, Team, TopicRoute
from handoff.rules.report_stats import Durations, LocalRange, rate
from handoff.selectors import percentiles
from handoff.selectors.agents import agent_users
from handoff.selectors.side_by_side import read_side_by_side

Kind = ReportFact.Kind
State = Conversation.State
# A conversation the bot kept is "contained" once it is settled: resolved, or silent
# for a whole WhatsApp window (the customer can no longer be answered freely).
SETTLED_AFTER = timedelta(hours=24)
# Hand-overs people started themselves: their response times are shown apart, as
# they measure no customer's wait for a person.
NOT_CUSTOMER_WAITS = ("agent_takeover", "reopened")
CLOCKS = (Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE, Kind.RESOLUTION)
# The facts' fields the summary breaks response figures down by.
BREAKDOWNS = ("agent_id", "team_id", "topic")
# The facts response figures rank: all but the first responses of hand-overs people
# started themselves.
CUSTOMER_WAITS = ~Q(kind=Kind.FIRST_RESPONSE, reason__in=NOT_CUSTOMER_WAITS)


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: its local dates, and optionally one team, topic, agent."""

    span: LocalRange
    team_id: int | None = None
    topic: str | None = None
    agent_id: int | None = None

    def conversations(self):
        rows = Conversation.objects.filter(
            created_at__gte=self.span.start, created_at__lt=self.span.end
        )
        if self.team_id is not None:
            rows = rows.filter(team_id=self.team_id)
        if self.topic is not None:
            rows = rows.filter(topic=self.topic)
        return rows

    def facts(self, *kinds: str):
        rows = ReportFact.objects.filter(
            kind__in=kinds, ended_at__gte=self.span.start, ended_at__lt=self.span.end
        )
        if self.team_id is not None:
            rows = rows.filter(team_id=self.team_id)
        if self.topic is not None:
            rows = rows.filter(topic=self.topic)
        if self.agent_id is not None:
            rows = rows.filter(agent_id=self.agent_id)
        return rows


def team_exists(team_id: int) -> bool:
    return Team.objects.filter(pk=team_id).exists()


def user_id_named(username: str) -> int | None:
    return get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()


@dataclass(frozen=True)
class FilterChoices:
    """What the reports page's filters offer: teams (id, name), topics, agents."""

    teams: list[tuple[int, str]]
    topics: list[str]
    agents: list[str]


def filter_choices() -> FilterChoices:
    """The teams, the topics routes know and the agents, each sorted: three queries."""
    return FilterChoices(
        teams=list(Team.objects.order_by("name").values_list("pk", "name")),
        topics=list(TopicRoute.objects.order_by("topic").values_list("topic", flat=True)),
        agents=list(agent_users().order_by("username").values_list("username", flat=True)),
    )


def reason_labels() -> dict[str, str]:
    """What each hand-over reason in the summary is called, in the page's language."""
    return {
        **{value: str(label) for value, label in Conversation.EscalationKind.choices},
        "reopened": gettext("reopened"),
    }


def summary(report: ReportFilter, *, now: datetime) -> dict:
    """Every figure of the reports page, as JSON-ready data: counted and ranked by the
    database in six queries over the range's rows (on PostgreSQL each of the three
    ranking ones after a look at its plan) and two for the names of agents and teams,
    in two halves read side by side (docs/benchmarks.md, "Reports")."""
    figures, (in_hours, bot_time, slots, breaches, volume) = read_side_by_side(
        lambda: _response_figures(report),
        lambda: (
            _opening_hours_figures(report),
            _bot_time(report),
            _handovers_per_quarter_hour(report),
            _breaches(report),
            _volume(report, now=now),
        ),
    )
    reasons: Counter = Counter()
    for reason, _slot, count in slots:
        reasons[reason] += count
    by_kind = figures[("kind",)]
    return {
        "range": {
            "from": report.span.first.isoformat(),
            "to": report.span.last.isoformat(),
            "tz": report.span.zone.key,
        },
        "conversations": volume["totals"],
        "by_day": volume["by_day"],
        "handover_reasons": dict(sorted(reasons.items())),
        "bot_seconds_before_handover": _ranked(bot_time.get((Kind.HANDOVER,))),
        "hour_of_week": _hour_of_week(slots, report.span.zone),
        **_durations(by_kind, in_hours),
        "sla": _attainment(in_hours, breaches),
        "satisfaction": _satisfaction(in_hours.get((Kind.RESOLUTION,), {})),
        "agents": _breakdown(figures[("agent_id", "kind")], _usernames),
        "teams": _breakdown(figures[("team_id", "kind")], _team_names),
        "topics": _breakdown(
            figures[("topic", "kind")], lambda topics: {topic: topic for topic in topics}
        ),
    }


def _response_figures(report: ReportFilter) -> dict:
    """Response, assignment and resolution times per kind, and per agent, team and
    topic: one sort of the range's clock facts by wall time. The plain counts are
    taken with the opening-hours figures instead, per kind alone: a query keeps every
    tally for every grouping of it."""
    return percentiles.ranked(
        report.facts(*CLOCKS, Kind.ASSIGNMENT),
        [("kind",), *((by, "kind") for by in BREAKDOWNS)],
        "seconds",
        when=CUSTOMER_WAITS,
        also={
            "answers": percentiles.count_of("satisfaction_score"),
            "score_sum": percentiles.sum_of("satisfaction_score"),
        },
    )


def _opening_hours_figures(report: ReportFilter) -> dict:
    """The same times in opening hours per kind, with the SLA and survey counts."""
    return percentiles.ranked(
        report.facts(*CLOCKS, Kind.ASSIGNMENT),
        [("kind",)],
        Coalesce("business_seconds", "seconds"),
        when=CUSTOMER_WAITS,
        also={
            "met": percentiles.count_where(Q(sla_met=True)),
            "takeovers": percentiles.count_where(~CUSTOMER_WAITS),
            "sent": percentiles.count_where(Q(survey_sent=True)),
            "sent_answered": percentiles.count_where(
                Q(survey_sent=True, satisfaction_score__isnull=False)
            ),
            "answers": percentiles.count_of("satisfaction_score"),
            "score_sum": percentiles.sum_of("satisfaction_score"),
            **{
                f"score_{score}": percentiles.count_where(Q(satisfaction_score=score))
                for score in range(1, 6)
            },
        },
    )[("kind",)]


def _bot_time(report: ReportFilter) -> dict:
    return percentiles.ranked(
        report.facts(Kind.HANDOVER),
        [("kind",)],
        "seconds",
        when=~Q(reason__in=NOT_CUSTOMER_WAITS),
    )[("kind",)]


def _handovers_per_quarter_hour(report: ReportFilter) -> list[tuple]:
    """(reason, quarter hour, count): the hour-of-week grid and the reasons' totals."""
    return list(
        report.facts(Kind.HANDOVER)
        .order_by()
        .values_list("reason", QuarterHour("ended_at"))
        .annotate(count=Count("pk"))
    )


def _breaches(report: ReportFilter) -> dict[str, int]:
    return dict(
        report.facts(Kind.SLA_BREACH).order_by().values_list("reason").annotate(count=Count("pk"))
    )


def _volume(report: ReportFilter, *, now: datetime) -> dict:
    """Conversations created per local day: handed over, contained, still with the bot."""
    settled = Q(state=State.RESOLVED) | Q(last_message_at__lte=now - SETTLED_AFTER)
    handed = Q(escalated_at__isnull=False)
    per_day = {
        row["day"]: row
        for row in report.conversations()
        .order_by()
        .values(day=TruncDate("created_at", tzinfo=report.span.zone))
        .annotate(
            conversations=Count("pk"),
            handed_over=Count("pk", filter=handed),
            routed_to_agents=Count(
                "pk", filter=handed & Q(escalation_kind=Conversation.EscalationKind.TOPIC)
            ),
            contained=Count("pk", filter=~handed & settled),
        )
    }
    total = Counter()
    for row in per_day.values():
        total.update({name: count for name, count in row.items() if name != "day"})
    still_with_bot = total["conversations"] - total["handed_over"] - total["contained"]
    with_bot = total["conversations"] - total["routed_to_agents"]
    return {
        "totals": {
            "total": total["conversations"],
            "handed_over": total["handed_over"],
            "handover_rate": rate(total["handed_over"], total["conversations"]),
            "contained": total["contained"],
            "containment_rate": rate(total["contained"], with_bot),
            "still_with_bot": still_with_bot,
            "routed_to_agents": total["routed_to_agents"],
        },
        "by_day": [
            {
                "date": day.isoformat(),
                "conversations": per_day.get(day, {}).get("conversations", 0),
                "handed_over": per_day.get(day, {}).get("handed_over", 0),
                "contained": per_day.get(day, {}).get("contained", 0),
            }
            for day in report.span.days()
        ],
    }


def _ranked(row: dict | None) -> dict:
    """A group's count and percentiles, as the summary shows durations."""
    if row is None:
        return Durations.of([]).as_dict()
    return Durations.ranked(row["count"], row["p50"], row["p90"]).as_dict()


def _durations(by_kind: dict[tuple, dict], in_hours: dict[tuple, dict]) -> dict:
    result = {}
    for kind, name in (
        (Kind.ASSIGNMENT, "assignment_wait"),
        (Kind.FIRST_RESPONSE, "first_response"),
        (Kind.NEXT_RESPONSE, "next_response"),
        (Kind.RESOLUTION, "resolution"),
    ):
        figures = _ranked(by_kind.get((kind,)))
        business = _ranked(in_hours.get((kind,)))
        figures["business_p50_seconds"] = business["p50_seconds"]
        figures["business_p90_seconds"] = business["p90_seconds"]
        result[name] = figures
    first = in_hours.get((Kind.FIRST_RESPONSE,))
    result["first_response"]["not_customer_waits"] = first["takeovers"] if first else 0
    return result


def _attainment(by_kind: dict[tuple, dict], breaches: dict[str, int]) -> dict:
    result = {}
    for kind in CLOCKS:
        met = by_kind.get((kind,), {}).get("met", 0)
        missed = breaches.get(kind.value, 0)
        result[kind.value] = {"met": met, "missed": missed, "attainment": rate(met, met + missed)}
    return result


def _satisfaction(resolutions: dict) -> dict:
    answers = resolutions.get("answers", 0)
    return {
        "surveys_sent": resolutions.get("sent", 0),
        "answers": answers,
        "response_rate": rate(resolutions.get("sent_answered", 0), resolutions.get("sent", 0)),
        "average": _average(resolutions.get("score_sum"), answers),
        "distribution": {str(score): resolutions.get(f"score_{score}", 0) for score in range(1, 6)},
    }


def _average(total: int | None, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _breakdown(groups: dict[tuple, dict], named: Callable[[set], dict]) -> list[dict]:
    """Per agent, team or topic (groups keyed (value, kind), named by `named` from the
    values found): response and resolution figures, and satisfaction; everyone with a
    fact of the range is listed, no one for facts without one. Grouped by the id, not
    the joined name: a join would cost every row of the month."""
    names = named({key for key, _kind in groups if key not in (None, "")})
    result = []
    for key, name in sorted(names.items(), key=lambda item: item[1]):
        resolutions = groups.get((key, Kind.RESOLUTION), {})
        result.append(
            {
                "name": name,
                "first_response": _ranked(groups.get((key, Kind.FIRST_RESPONSE))),
                "next_response": _ranked(groups.get((key, Kind.NEXT_RESPONSE))),
                "resolution": _ranked(groups.get((key, Kind.RESOLUTION))),
                "satisfaction_average": _average(
                    resolutions.get("score_sum"), resolutions.get("answers", 0)
                ),
            }
        )
    return result


def _usernames(ids: set) -> dict[int, str]:
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def _team_names(ids: set) -> dict[int, str]:
    return dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))


def _hour_of_week(slots: list[tuple], zone: ZoneInfo) -> list[list[int]]:
    """Hand-overs per ISO weekday (rows, Monday first) and local hour (columns), from
    their counts per quarter hour: every time zone's offset is a whole number of
    quarter hours, so each quarter hour lies in one local hour."""
    grid = [[0] * 24 for _ in range(7)]
    for _reason, slot, count in slots:
        local = datetime.fromtimestamp(slot * QuarterHour.SECONDS, zone)
        grid[local.isoweekday() - 1][local.hour] += count
    return grid
