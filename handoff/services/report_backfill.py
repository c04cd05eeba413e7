"""Report facts for conversations from before handoff wrote them (an upgrade): what the
conversation rows and their history still say, written once.

Only each conversation's latest episode with people is known (a reopen or a reply
timer return overwrote the earlier times), and next responses cannot be rebuilt
without pairing every message: the backfill writes the bot's time before the
hand-over, the first response, the resolution, and each recorded SLA breach, and says
how many. Facts the services already wrote are left alone (the unique constraint
drops a repeat), so running it twice, or on a live installation, changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from handoff.models import Conversation, ConversationEvent, Message, ReportFact
from handoff.rules import sla as sla_rules
from handoff.services import reporting

Kind = ReportFact.Kind
BATCH = 500


@dataclass
class Backfilled:
    conversations: int = 0
    facts: int = 0


def backfill(*, batch: int = BATCH) -> Backfilled:
    """Walk the handed-over conversations by id, a batch per transaction."""
    done = Backfilled()
    after = 0
    while True:
        rows = list(
            Conversation.objects.filter(pk__gt=after, escalated_at__isnull=False).order_by("pk")[
                :batch
            ]
        )
        if not rows:
            return done
        before = ReportFact.objects.count()
        with transaction.atomic():
            for conversation in rows:
                _backfill_one(conversation)
        done.conversations += len(rows)
        done.facts += ReportFact.objects.count() - before
        after = rows[-1].pk


def _backfill_one(conversation: Conversation) -> None:
    handed_at = conversation.escalated_at
    reporting.handed_over(conversation, at=handed_at)
    if conversation.first_reply_at is not None and conversation.first_reply_at >= handed_at:
        replier = (
            Message.objects.filter(
                conversation=conversation,
                author_kind=Message.AuthorKind.AGENT,
                created_at__gte=handed_at,
            )
            .order_by("created_at", "pk")
            .values_list("author_id", flat=True)
            .first()
        )
        reporting.write(
            Kind.FIRST_RESPONSE,
            conversation,
            started_at=handed_at,
            ended_at=conversation.first_reply_at,
            agent_id=replier,
        )
    resolved_at = conversation.resolved_at
    if (
        conversation.state == Conversation.State.RESOLVED
        and resolved_at
        and resolved_at >= handed_at
    ):
        reporting.write(
            Kind.RESOLUTION,
            conversation,
            started_at=handed_at,
            ended_at=resolved_at,
            agent_id=conversation.assignee_id,
            survey_sent=conversation.survey_sent_at is not None,
            satisfaction_score=conversation.satisfaction_score,
        )
    for data in ConversationEvent.objects.filter(
        conversation=conversation, kind=ConversationEvent.Kind.SLA_BREACHED
    ).values_list("data", flat=True):
        _breach(conversation, data)


def _breach(conversation: Conversation, data: dict) -> None:
    """A recorded breach; its clock's start is not in the event, so it is taken as
    the due time less the target (exact when always open)."""
    try:
        kind = sla_rules.Kind(data["kind"])
        due = datetime.fromisoformat(data["due_at"])
        minutes = int(data["minutes"])
    except (KeyError, TypeError, ValueError):
        return
    started = due - timedelta(minutes=minutes)
    if kind is not sla_rules.Kind.NEXT_RESPONSE and conversation.escalated_at <= due:
        started = conversation.escalated_at
    reporting.breached(
        conversation,
        sla_rules.Clock(kind=kind, started_at=started, minutes=minutes, due_at=due, at_risk_at=due),
    )
