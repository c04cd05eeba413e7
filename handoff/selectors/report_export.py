"""The per-conversation export (`/api/reports/conversations.csv`), page by page: one
row per conversation created in the report's range, with its times from the report
facts, so a year of data streams without loading into memory.
"""

from collections import defaultdict
from datetime import datetime

from django.db.models import Q

from handoff.models import ReportFact
from handoff.rules import report_stats
from handoff.selectors.reports import ReportFilter

Kind = ReportFact.Kind
EXPORT_PAGE = 2000


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
