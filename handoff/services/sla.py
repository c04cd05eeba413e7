"""SLA clocks on conversations: keeping each open conversation's stored status (nearest
due time, its kind, ok / at risk / breached) current, and recording each breach once.

The clocks follow facts other services change (the hand-over, the first agent reply,
the customer's unanswered message, the resolve, the team), so those services call
`refresh` in the same transaction, before they record their event: the inboxes are
shown the conversation with its new clocks. The passing of time is the scanner's job:
`check_due` (run by the assigner thread between assignments) takes the conversation
whose next change (`sla_check_at`: an at-risk moment or a due time) has come.

Across processes: every recompute starts with an UPDATE of the row (for the scanner,
conditional on the `sla_check_at` it read), which takes the row's lock to commit on
PostgreSQL (SQLite has one writer), and only then reads the facts and the stored
clocks. Two scanners that read the same due row cannot both apply it: the second
UPDATE matches nothing once the first committed a new `sla_check_at`. A breach is
written to `sla_breached` in the transaction that records its `sla_breached` event,
so it is recorded exactly once per clock run, never Chatwoot's exists-then-create
double. The rules themselves (which clocks run, when, what shows) are in rules/sla.py.

Never sends anything to the customer and never changes who owns a conversation.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from handoff.models import Conversation, ConversationEvent
from handoff.rules import sla as rules
from handoff.selectors.teams import rules_for
from handoff.services import reporting, transitions
from handoff.telemetry import log_context

logger = logging.getLogger(__name__)

State = Conversation.State
OPEN_STATES = (State.WAITING, State.ASSIGNED)
STORED = ("sla_clocks", "sla_breached", "sla_due_at", "sla_kind", "sla_state", "sla_check_at")


@dataclass(frozen=True)
class Outcome:
    fields: dict  # the stored SLA fields as written
    shown_changed: bool  # due time, kind or state differ from before
    breaches: int  # sla_breached events recorded


def refresh(
    conversation_id: int,
    now: datetime | None = None,
    *,
    into: Conversation | None = None,
    resnapshot: bool = False,
) -> bool:
    """Recompute the conversation's SLA fields from its facts as they are now.

    Call in the transaction that changed the facts, after the change and before its
    event, passing that change's row as `into` so the event shows the new clocks.
    A clock that stops after its due time (a late reply or resolve the scanner had
    not caught yet) is recorded as breached here. `resnapshot` takes every running
    clock's target afresh from the starts already held (the conversation moved to
    another team). True when what the inbox shows changed.
    """
    now = now or timezone.now()
    # No savepoint in the caller's transaction: the change it recomputes for is undone
    # with it, and every hand-over would pay the savepoint's two round trips.
    with transaction.atomic(savepoint=False):
        outcome = _recompute(conversation_id, now=now, resnapshot=resnapshot)
    if outcome is None:
        return False
    if into is not None:
        for name, value in outcome.fields.items():
            setattr(into, name, value)
    return outcome.shown_changed


def check_due(now: datetime | None = None) -> bool:
    """Apply the change of one conversation whose SLA status changes by now (at risk,
    or breached: recorded and announced); True if one was due (call again)."""
    now = now or timezone.now()
    row = (
        Conversation.objects.filter(sla_check_at__lte=now)
        .order_by("sla_check_at", "pk")
        .values_list("pk", "sla_check_at")
        .first()
    )
    if row is None:
        return False
    conversation_id, seen = row
    with log_context.working_on(conversation_id), transaction.atomic():
        outcome = _recompute(conversation_id, now=now, claim=Q(sla_check_at=seen))
        if outcome is not None and outcome.shown_changed and not outcome.breaches:
            transitions.announce(conversation_id)  # at risk: no history event
    return True


def _recompute(
    conversation_id: int, *, now: datetime, claim: Q | None = None, resnapshot: bool = False
) -> Outcome | None:
    rows = Conversation.objects.filter(pk=conversation_id)
    if claim is not None:
        rows = rows.filter(claim)
    # Lock the row before reading it (and, for the scanner, judge the race).
    if not rows.update(sla_check_at=F("sla_check_at")):
        return None
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .values(
            "state",
            "escalated_at",
            "first_reply_at",
            "waiting_since",
            "team_id",
            *STORED,
        )
        .get()
    )
    facts = rules.Facts(
        is_open=row["state"] in OPEN_STATES,
        escalated_at=row["escalated_at"],
        first_reply_at=row["first_reply_at"],
        waiting_since=row["waiting_since"],
    )
    previous = rules.clocks_from_json(row["sla_clocks"])
    starts = rules.clock_starts(facts)
    targets = hours = None
    if starts and (resnapshot or rules.needs_snapshot(starts, previous)):
        team_rules = rules_for(row["team_id"])
        targets, hours = team_rules.sla, team_rules.hours
    clocks = rules.running_clocks(starts, previous, targets, hours, resnapshot=resnapshot)
    breached_before = row["sla_breached"] or []
    late = rules.new_breaches(previous, clocks, breached_before, now)
    breached = rules.breached_runs(previous, clocks, breached_before, late)
    shown = rules.status(clocks, breached, now)
    fields = {
        "sla_clocks": rules.clocks_to_json(clocks),
        "sla_breached": breached,
        "sla_due_at": shown.due_at if shown else None,
        "sla_kind": shown.kind.value if shown else "",
        "sla_state": shown.state.value if shown else "",
        "sla_check_at": shown.check_at if shown else None,
    }
    if any(fields[name] != row[name] for name in STORED):
        Conversation.objects.filter(pk=conversation_id).update(**fields)
    shown_changed = any(
        fields[name] != row[name] for name in ("sla_due_at", "sla_kind", "sla_state")
    )
    if late:
        conversation = transitions.current(conversation_id)
        for clock in late:
            _record_breach(conversation, clock)
    return Outcome(fields=fields, shown_changed=shown_changed, breaches=len(late))


def _record_breach(conversation: Conversation, clock: rules.Clock) -> None:
    """The breach in the history and in every inbox (`conversation.updated` with the
    event): the assignee's inbox tells them, or, unassigned, the inboxes of the
    team's members (everyone's for no team)."""
    assignee = conversation.assignee.get_username() if conversation.assignee_id else None
    reporting.breached(conversation, clock)
    transitions.record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.SLA_BREACHED,
        data={
            "kind": clock.kind.value,
            "due_at": clock.due_at.isoformat(),
            "minutes": clock.minutes,
            "assignee": assignee,
        },
    )
    logger.info(
        "Conversation %s missed its %s target (%s min, due %s)",
        conversation.pk,
        clock.kind.value,
        clock.minutes,
        clock.due_at.isoformat(),
    )
