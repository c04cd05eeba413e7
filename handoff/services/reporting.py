"""Report facts: each measured interval of a conversation with people, written by the
service that ends it, in that service's transaction (a rollback takes the fact back
with the change it measured).

- handover: creation (a reopen: the resolve) to the hand-over; written by escalate,
  take_over and the reopen;
- assignment: the hand-over to the first assignment since (claim, take_over, transfer,
  the assigner, the reopen);
- first_response: the hand-over to the first agent reply (reply_timer.answered);
- next_response: the customer's first unanswered message to the agent's reply (idem);
- resolution: the hand-over to the resolve;
- sla_breach: an SLA clock's start to its due time, when the breach is recorded.

Agent times therefore never include the bot's: the bot's part is the `handover` fact.
One fact per run: the unique constraint on (conversation, kind, reason, start) keeps a
repeat (a second assignment in one episode, a retried write) single, in any number of
processes, by the database rather than a read (Chatwoot's "best-effort guard").
Durations are wall seconds and, when the team keeps opening hours, seconds within them.
"""

from datetime import datetime

from handoff.models import Conversation, ReportFact
from handoff.rules import sla as sla_rules
from handoff.selectors.teams import rules_for

Kind = ReportFact.Kind
REOPENED = "reopened"


def handed_over(
    conversation: Conversation, *, at: datetime, since: datetime | None = None, reason: str = ""
) -> None:
    """The bot's time (or, for a reopen, the time it lay resolved) ended at `at`."""
    write(
        Kind.HANDOVER,
        conversation,
        started_at=since or conversation.created_at,
        ended_at=at,
        reason=reason or conversation.escalation_kind,
    )


def assigned(conversation: Conversation, *, agent_id: int, at: datetime) -> None:
    """The first assignment since the hand-over (later ones in the episode are kept out
    by the constraint: the wait for an agent is measured once)."""
    if conversation.escalated_at is None:
        return
    write(
        Kind.ASSIGNMENT,
        conversation,
        started_at=conversation.escalated_at,
        ended_at=at,
        agent_id=agent_id,
    )


def replied(before: Conversation, *, agent_id: int | None, at: datetime) -> None:
    """An agent answered the customer; `before` is the conversation as it was just
    before the reply changed it (its first reply and waiting times, its SLA clocks)."""
    if before.escalated_at is None:
        return
    if before.first_reply_at is None:
        kind, started = Kind.FIRST_RESPONSE, before.escalated_at
    elif before.waiting_since is not None:
        kind, started = Kind.NEXT_RESPONSE, before.waiting_since
    else:
        return  # nobody was owed a reply: a second message in a row
    write(kind, before, started_at=started, ended_at=at, agent_id=agent_id, clocked=True)


def resolved(
    before: Conversation, *, agent_id: int | None, at: datetime, survey_sent: bool
) -> None:
    """People resolved the conversation (a bot-only one has no hand-over: it counts as
    contained, from the conversation rows)."""
    if before.escalated_at is None:
        return
    write(
        Kind.RESOLUTION,
        before,
        started_at=before.escalated_at,
        ended_at=at,
        agent_id=agent_id,
        clocked=True,
        survey_sent=survey_sent,
    )


def breached(conversation: Conversation, clock: sla_rules.Clock) -> None:
    """An SLA clock passed its due time without the reply or resolve it waited for."""
    write(
        Kind.SLA_BREACH,
        conversation,
        started_at=clock.started_at,
        ended_at=clock.due_at,
        agent_id=conversation.assignee_id,
        reason=clock.kind.value,
        sla_minutes=clock.minutes,
        sla_met=False,
    )


def scored(conversation_id: int, score: int) -> None:
    """The customer answered the survey after the latest resolve."""
    latest = (
        ReportFact.objects.filter(conversation_id=conversation_id, kind=Kind.RESOLUTION)
        .order_by("-ended_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if latest is not None:
        ReportFact.objects.filter(pk=latest).update(satisfaction_score=score)


def write(
    kind: str,
    conversation: Conversation,
    *,
    started_at: datetime,
    ended_at: datetime,
    agent_id: int | None = None,
    reason: str = "",
    clocked: bool = False,
    **fields,
) -> None:
    """One fact (the writers above, and the backfill of history): durations measured
    here, the team's opening-hours time for the clocked kinds, a repeat dropped."""
    if kind != Kind.SLA_BREACH and not reason:
        reason = conversation.escalation_kind  # the episode's hand-over, for breakdowns
    seconds = max((ended_at - started_at).total_seconds(), 0.0)
    business_seconds = None
    if kind in (Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE, Kind.RESOLUTION):
        hours = rules_for(conversation.team_id).hours
        if hours is not None and not hours.always_open:
            business_seconds = max(hours.business_minutes_between(started_at, ended_at), 0) * 60
    if clocked:
        fields.update(_clock_outcome(conversation, kind, ended_at))
    ReportFact.objects.bulk_create(
        [
            ReportFact(
                kind=kind,
                conversation_id=conversation.pk,
                started_at=started_at,
                ended_at=ended_at,
                seconds=seconds,
                business_seconds=business_seconds,
                agent_id=agent_id,
                team_id=conversation.team_id,
                topic=conversation.topic,
                queue_label=conversation.queue_label,
                reason=reason,
                **fields,
            )
        ],
        ignore_conflicts=True,
    )


def _clock_outcome(conversation: Conversation, kind: str, ended_at: datetime) -> dict:
    """Whether the SLA clock of this kind, if one ran, was met: stopped by its due time
    and not already recorded as breached."""
    data = (conversation.sla_clocks or {}).get(kind)
    if not data:
        return {}
    clock = sla_rules.Clock.from_json(kind, data)
    met = ended_at <= clock.due_at and kind not in (conversation.sla_breached or [])
    return {"sla_minutes": clock.minutes, "sla_met": met}
