"""Keeps the serving order's priorities current: which waiting customers are at risk
of their WhatsApp window closing before they are served (rules/queue_order.py).

The decision depends on the desk as it is now (who is at their desk, how much they
hold, the teams' handling times) and on the clock, so it is taken again every few
seconds by the assigner thread (workers/threads.py) rather than once at the
hand-over, and kept on the row (`Conversation.serve_by`) so that the assigner, the
Waiting list and the place a customer is told all read the same order from SQL. A conversation moved
ahead gets a PRIORITIZED event (the agents see why it jumped the line) and stays ahead
until served; one whose risk passed (the customer wrote again, or the window closed)
is shown to the inboxes in its place again, with no event.

Every change is a conditional UPDATE of a still-waiting row with the value read, so
two processes refreshing at once write each change once.
"""

import logging
import time
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from handoff.models import Conversation, ConversationEvent
from handoff.rules import service_window
from handoff.rules.queue_order import InLine, deadlines
from handoff.selectors import desk, queue_place
from handoff.services import transitions

logger = logging.getLogger(__name__)

State = Conversation.State
# At most this many conversations moved ahead or back per call (each records an
# event and pushes to the inboxes): a night's backlog found at risk at once must not
# hold the assigner thread for seconds.
BATCH = 50
# How often a process looks again once nothing was left to change.
SCAN_SECONDS = 5.0
_next_scan = 0.0  # on this process's monotonic clock
# Where a waiting row without a hand-over time sorts (first, as in SQL).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def refresh_if_due(clock=time.monotonic) -> bool:
    """`refresh`, at most once per SCAN_SECONDS in this process unless the last call
    left changes to make: the assigner thread's step (workers/threads.py). Each scan
    reads every waiting row, and a campaign's backlog can hold tens of thousands;
    a customer's risk moves in minutes, not seconds."""
    global _next_scan
    if clock() < _next_scan:
        return False
    changed = refresh()
    if not changed:
        _next_scan = clock() + SCAN_SECONDS
    return changed


def refresh(now: datetime | None = None) -> bool:
    """Set or clear each waiting conversation's deadline as the order now decides;
    True if any changed (the assigner then looks at the queue again)."""
    if not desk.anything_waiting():
        return False
    now = now or timezone.now()
    rows = list(
        Conversation.objects.filter(state=State.WAITING).values_list(
            "pk", "team_id", "escalated_at", "contact__last_inbound_at", "serve_by"
        )
    )
    waiting = [
        InLine(
            id=pk,
            team_id=team_id,
            escalated_at=escalated_at or _EPOCH,
            window_closes_at=last_inbound + service_window.WINDOW if last_inbound else None,
        )
        for pk, team_id, escalated_at, last_inbound, _serve_by in rows
    ]
    moved = {pk: serve_by for pk, _t, _e, _i, serve_by in rows if serve_by is not None}
    decided = deadlines(waiting, now=now, chance=queue_place.chance_at(now=now), moved=moved)
    changes = [
        (pk, stored, decided.get(pk))
        for pk, _team, _escalated, _inbound, stored in rows
        if decided.get(pk) != stored
    ]
    # The most urgent first, a batch a call: the assigner serves between batches.
    changes.sort(key=lambda change: (change[2] is None, change[2] or now, change[0]))
    changed = False
    for pk, stored, wanted in changes[:BATCH]:
        changed |= _change(pk, stored, wanted, now=now)
    return changed


def _change(conversation_id: int, stored, wanted, *, now: datetime) -> bool:
    with transaction.atomic():
        moved = Conversation.objects.filter(
            pk=conversation_id, state=State.WAITING, serve_by=stored
        ).update(serve_by=wanted, updated_at=now)
        if not moved:
            return False  # served, or changed by another process meanwhile
        if wanted is None:
            transitions.announce(conversation_id)
            return True
        conversation = transitions.current(conversation_id)
        transitions.record_event(
            conversation=conversation,
            kind=ConversationEvent.Kind.PRIORITIZED,
            data={"serve_by": wanted.isoformat(), "minutes_left": _minutes(wanted - now)},
        )
    logger.info("Conversation %s moved ahead: its window closes at %s", conversation_id, wanted)
    return True


def _minutes(left) -> int:
    return max(int(left.total_seconds() // 60), 0)
