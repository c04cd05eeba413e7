"""Reads for reports: the summary a reports page, `/api/reports/summary/` and a BI tool
share, and the per-conversation export, page by page.

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

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils.translation import gettext

from handoff.models import Conversation, ReportFact, Team, TopicRoute
from handoff.rules import report_stats
from handoff.rules.report_stats import Durations, LocalRange, rate
from handoff.selectors import percentiles
from handoff.selectors.agents import agent_users

Kind = ReportFact.Kind
State = Conversation.State
# A conversation the bot kept is "contained" once it is settled: resolved, or silent
# for a whole WhatsApp window (the customer can no longer be answered freely).
SETTLED_AFTER = timedelta(hours=24)
# Hand-overs people started themselves: their response times are shown apart, as
# they measure no customer's wait for a person.
NOT_CUSTOMER_WAITS = ("agent_takeover", "reopened")
CLOCKS = (Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE, Kind.RESOLUTION)
# The facts response figures rank: all but the first responses of hand-overs people
# started themselves.
CUSTOMER_WAITS = ~Q(kind=Kind.FIRST_RESPONSE, reason__in=NOT_CUSTOMER_WAITS)
EXPORT_PAGE = 2000


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
    database: ten queries on PostgreSQL, eight of them over the range's rows and two
    for the names of agents and teams (docs/benchmarks.md, "Reports")."""
    clocks = report.facts(*CLOCKS, Kind.ASSIGNMENT)
    by_kind = percentiles.spread(
        clocks,
        ("kind",),
        {"wall": "seconds", "business": Coalesce("business_seconds", "seconds")},
        when=CUSTOMER_WAITS,
        also={
            "met": Count("pk", filter=Q(sla_met=True)),
            "takeovers": Count("pk", filter=~CUSTOMER_WAITS),
            "sent": Count("pk", filter=Q(survey_sent=True)),
            "sent_answered": Count(
                "pk", filter=Q(survey_sent=True, satisfaction_score__isnull=False)
            ),
            "answers": Count("satisfaction_score"),
            "score_sum": Sum("satisfaction_score"),
            **{
                f"score_{score}": Count("pk", filter=Q(satisfaction_score=score))
                for score in range(1, 6)
            },
        },
    )
    handovers = report.facts(Kind.HANDOVER)
    bot_time = percentiles.spread(
        handovers,
        ("kind",),
        {"wall": "seconds"},
        when=~Q(reason__in=NOT_CUSTOMER_WAITS),
    )
    heatmap = list(
        handovers.order_by()
        .values_list(
            "reason",
            ExtractIsoWeekDay("ended_at", tzinfo=report.span.zone),
            ExtractHour("ended_at", tzinfo=report.span.zone),
        )
        .annotate(count=Count("pk"))
    )
    breaches = dict(
        report.facts(Kind.SLA_BREACH).order_by().values_list("reason").annotate(count=Count("pk"))
    )
    volume = _volume(report, now=now)
    reasons: Counter = Counter()
    for reason, _weekday, _hour, count in heatmap:
        reasons[reason] += count
    return {
        "range": {
            "from": report.span.first.isoformat(),
            "to": report.span.last.isoformat(),
            "tz": report.span.zone.key,
        },
        "conversations": volume["totals"],
        "by_day": volume["by_day"],
        "handover_reasons": dict(sorted(reasons.items())),
        "bot_seconds_before_handover": _ranked(bot_time.get((Kind.HANDOVER,)), "wall"),
        "hour_of_week": _hour_of_week(heatmap),
        **_durations(by_kind),
        "sla": _attainment(by_kind, breaches),
        "satisfaction": _satisfaction(by_kind.get((Kind.RESOLUTION,), {})),
        "agents": _breakdown(clocks, "agent_id", _usernames),
        "teams": _breakdown(clocks, "team_id", _team_names),
        "topics": _breakdown(clocks, "topic", lambda topics: {topic: topic for topic in topics}),
    }


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


def _ranked(row: dict | None, name: str) -> dict:
    """A group's count and percentiles of `name`, as the summary shows durations."""
    if row is None:
        return Durations.of([]).as_dict()
    return Durations.ranked(row["count"], row[f"{name}_p50"], row[f"{name}_p90"]).as_dict()


def _durations(by_kind: dict[tuple, dict]) -> dict:
    result = {}
    for kind, name in (
        (Kind.ASSIGNMENT, "assignment_wait"),
        (Kind.FIRST_RESPONSE, "first_response"),
        (Kind.NEXT_RESPONSE, "next_response"),
        (Kind.RESOLUTION, "resolution"),
    ):
        row = by_kind.get((kind,))
        figures = _ranked(row, "wall")
        in_hours = _ranked(row, "business")
        figures["business_p50_seconds"] = in_hours["p50_seconds"]
        figures["business_p90_seconds"] = in_hours["p90_seconds"]
        result[name] = figures
    first = by_kind.get((Kind.FIRST_RESPONSE,))
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


def _breakdown(clocks, by: str, named: Callable[[set], dict]) -> list[dict]:
    """Per agent, team or topic (the fact's field `by`, named by `named` from the values
    found): response and resolution figures, and satisfaction; everyone with a fact of
    the range is listed. Grouped by the id, not the joined name: a join would cost
    every row of the month."""
    spread = percentiles.spread(
        clocks.exclude(**{f"{by}__isnull": True}).exclude(**{by: ""} if by == "topic" else {}),
        (by, "kind"),
        {"wall": "seconds"},
        when=CUSTOMER_WAITS & ~Q(kind=Kind.ASSIGNMENT),
        also={"answers": Count("satisfaction_score"), "score_sum": Sum("satisfaction_score")},
    )
    names = named({key for key, _kind in spread})
    result = []
    for key, name in sorted(names.items(), key=lambda item: item[1]):
        resolutions = spread.get((key, Kind.RESOLUTION), {})
        result.append(
            {
                "name": name,
                "first_response": _ranked(spread.get((key, Kind.FIRST_RESPONSE)), "wall"),
                "next_response": _ranked(spread.get((key, Kind.NEXT_RESPONSE)), "wall"),
                "resolution": _ranked(spread.get((key, Kind.RESOLUTION)), "wall"),
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


def _hour_of_week(heatmap: list[tuple]) -> list[list[int]]:
    """Hand-overs per ISO weekday (rows, Monday first) and local hour (columns)."""
    grid = [[0] * 24 for _ in range(7)]
    for _reason, weekday, hour, count in heatmap:
        grid[weekday - 1][hour] += count
    return grid


# --- The export ------------------------------------------------------------------------


EXPORT_COLUMNS = (
    "conversation_id",
    "created_at",
    "state",
    "handed_over_at",
    "handover_reason",
    "topic",
    "queue_label",
    "team",
    "assignee",
    "bot_seconds",
    "assignment_seconds",
    "first_response_seconds",
    "first_response_business_seconds",
    "first_responder",
    "next_response_count",
    "next_response_max_seconds",
    "resolved_at",
    "resolution_seconds",
    "resolution_business_seconds",
    "resolved_by",
    "sla_first_response",
    "sla_next_response",
    "sla_resolution",
    "satisfaction_score",
)


def export_page(
    report: ReportFilter, after: tuple[datetime, int] | None, size: int = EXPORT_PAGE
) -> tuple[list[list], tuple[datetime, int] | None]:
    """One page of the export: the rows of up to `size` conversations created in the
    range after the keyset `after` (created_at, id), and the keyset to ask for next
    (None after the last page). Two short queries a page: memory is one page's."""
    rows = report.conversations().order_by("created_at", "pk")
    if after is not None:
        created, last_id = after
        rows = rows.filter(Q(created_at__gt=created) | Q(created_at=created, pk__gt=last_id))
    conversations = list(
        rows.values(
            "pk",
            "created_at",
            "state",
            "escalated_at",
            "escalation_kind",
            "topic",
            "queue_label",
            "team__name",
            "assignee__username",
            "resolved_at",
            "satisfaction_score",
        )[:size]
    )
    if not conversations:
        return [], None
    facts: dict[int, list[tuple]] = defaultdict(list)
    for row in (
        ReportFact.objects.filter(conversation_id__in=[c["pk"] for c in conversations])
        .order_by("ended_at", "pk")
        .values_list(
            "conversation_id",
            "kind",
            "seconds",
            "business_seconds",
            "agent__username",
            "sla_met",
            "reason",
        )
    ):
        facts[row[0]].append(row[1:])
    lines = [_export_row(c, facts.get(c["pk"], [])) for c in conversations]
    last = conversations[-1]
    following = (last["created_at"], last["pk"]) if len(conversations) == size else None
    return lines, following


def _export_row(conversation: dict, facts: list[tuple]) -> list:
    def first(kind: str) -> tuple | None:
        return next((fact for fact in facts if fact[0] == kind), None)

    def seconds(fact: tuple | None, index: int = 1):
        return report_stats.whole_seconds(fact[index]) if fact else None

    handover = first(Kind.HANDOVER)
    assignment = first(Kind.ASSIGNMENT)
    response = first(Kind.FIRST_RESPONSE)
    resolution = first(Kind.RESOLUTION)
    following = [fact[1] for fact in facts if fact[0] == Kind.NEXT_RESPONSE]
    missed = {fact[5] for fact in facts if fact[0] == Kind.SLA_BREACH}

    def outcome(kind: str) -> str:
        if kind in missed:
            return "missed"
        results = [fact[4] for fact in facts if fact[0] == kind and fact[4] is not None]
        if not results:
            return ""
        return "met" if all(results) else "missed"

    return [
        conversation["pk"],
        _iso(conversation["created_at"]),
        conversation["state"],
        _iso(conversation["escalated_at"]),
        conversation["escalation_kind"],
        conversation["topic"],
        conversation["queue_label"],
        conversation["team__name"],
        conversation["assignee__username"],
        seconds(handover),
        seconds(assignment),
        seconds(response),
        seconds(response, 2),
        response[3] if response else None,
        len(following),
        report_stats.whole_seconds(max(following)) if following else None,
        _iso(conversation["resolved_at"]),
        seconds(resolution),
        seconds(resolution, 2),
        resolution[3] if resolution else None,
        outcome(Kind.FIRST_RESPONSE),
        outcome(Kind.NEXT_RESPONSE),
        outcome(Kind.RESOLUTION),
        conversation["satisfaction_score"],
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
