"""Telling a waiting customer their new place in the queue, now and then.

The hand-over message told them their place and wait (selectors/queue_place.py). If
admin turned updates on (Settings: "tell waiting customers their new place", in
minutes), a customer still waiting is told their new place and wait at most once per
that interval: when they have moved up by half or more since they were last told
(number 8 is now number 4), else once they have waited twice the interval since. An
update is a promise kept or corrected, never chatter: none once an agent has written
to them (their first reply ends the wait), none outside their WhatsApp window, none
when updates are off.

Run by the assigner thread between its other checks (workers/threads.py): the next
conversation whose `place_check_at` has come, claimed by a conditional UPDATE of
that time, so two processes never tell a customer twice.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from handoff.models import Conversation, CustomerText, HandoffSettings, Message
from handoff.rules import service_window, system_texts, wait_wording
from handoff.selectors import customer_texts, queue_place
from handoff.services import transitions
from handoff.services.outbound import queue_outbound
from handoff.telemetry import log_context

logger = logging.getLogger(__name__)

State = Conversation.State
# With no new place worth telling, look again after this share of the interval.
RECHECK_SHARE = 0.25


def told(conversation_id: int, position: int, *, now: datetime, minutes: int | None = None) -> None:
    """The customer was told `position` now (in the caller's transaction): with
    updates on, the next look is one interval on; with them off, nothing to keep (a
    check time left from when they were on finds them off, and stops)."""
    if minutes is None:
        minutes = HandoffSettings.load().position_update_minutes
    if not minutes:
        return
    Conversation.objects.filter(pk=conversation_id).update(
        place_told_at=now,
        place_told_position=position,
        place_check_at=now + timedelta(minutes=minutes),
    )


def check_due(now: datetime | None = None) -> bool:
    """Look at one waiting conversation whose check time has come: tell the customer
    their new place, or decide when to look again; True if one was due."""
    now = now or timezone.now()
    due = (
        Conversation.objects.filter(state=State.WAITING, place_check_at__lte=now)
        .order_by("place_check_at", "pk")
        .values_list("pk", "place_check_at")
        .first()
    )
    if due is None:
        return False
    conversation_id, seen = due
    with log_context.working_on(conversation_id), transaction.atomic():
        _check(conversation_id, seen, now=now)
    return True


def _check(conversation_id: int, seen: datetime, *, now: datetime) -> None:
    claimed = Conversation.objects.filter(pk=conversation_id, place_check_at=seen)
    if not claimed.update(place_check_at=None):
        return  # another process looked at it first
    minutes = HandoffSettings.load().position_update_minutes
    conversation = transitions.current(conversation_id)
    if (
        not minutes
        or conversation.state != State.WAITING
        or conversation.first_reply_at is not None
        or not service_window.is_open(conversation.contact, now)
    ):
        return  # updates off, served, answered, or beyond free text: look no more
    interval = timedelta(minutes=minutes)
    told_at = conversation.place_told_at or now
    place = queue_place.place_of(conversation, now=now)
    moved_up = place.position * 2 <= (conversation.place_told_position or 0)
    waited_long = now - told_at >= 2 * interval
    if not (moved_up or waited_long):
        again = min(now + interval * RECHECK_SHARE, told_at + 2 * interval)
        Conversation.objects.filter(pk=conversation_id).update(place_check_at=again)
        return
    language = customer_texts.language_of(conversation)
    text = system_texts.fill(
        customer_texts.text(CustomerText.Key.POSITION_UPDATE, language),
        {
            "{position}": str(place.position),
            "{wait}": wait_wording.wait_text(place.estimate, language),
        },
    )
    if text.strip():
        queue_outbound(conversation=conversation, text=text, author_kind=Message.AuthorKind.SYSTEM)
        logger.info("Waiting customer told their new place %s", place.position)
    told(conversation_id, place.position, now=now, minutes=minutes)
