"""Reads for reports: the summary a reports page, `/api/reports/summary/` and a BI tool
share, and the per-conversation export, page by page.

Definitions (docs/api.md, "Reports"): conversations are placed in the range by their
creation, every interval by its end (a reply, a resolve, an assignment, a hand-over, a
breach). Agent times come from `ReportFact` rows (services/reporting.py), so they
start at the hand-over and never include the bot's time. Percentiles are nearest rank
(rules/report_stats.py), in Python, on every database alike.

A fixed number of queries per summary, whatever the range; never writes.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils.translation import gettext

from handoff.models import Conversation, ReportFact, Team, TopicRoute
from handoff.rules import report_stats
from handoff.rules.report_stats import Durations, LocalRange, rate
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
    """Every figure of the reports page, as JSON-ready data."""
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
