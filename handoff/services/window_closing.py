"""A customer waiting for people must not lose their WhatsApp window unanswered.

Twenty-four hours after the customer's last message only a paid, approved template
can reach them. When a waiting or assigned customer's window is about to close
(admin's Settings: "act before the window closes", an hour by default) and no agent
has answered their latest message: the team's re-engagement template campaign goes
out (else the settings'), its message property the re-engagement message in the
customer's language, so that the customer's reply opens a new window; with no such
campaign the agents are alerted instead (the assignee, or the team's members for an
unassigned conversation). Once per conversation either way: a template costs money,
and a second alert says nothing new. After the window closed, the inbox offers the
templates as before.

Run by the assigner thread between its other checks (workers/threads.py), like the
SLA clocks: one conversation a call, claimed by a conditional UPDATE, so two
processes never act twice on one.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from handoff.models import (
    BrazeCampaign,
    Conversation,
    ConversationEvent,
    CustomerText,
    HandoffSettings,
    Message,
)
from handoff.rules import service_window
from handoff.selectors import customer_texts
from handoff.services import campaign_choice, transitions
from handoff.services.outbound import queue_outbound
from handoff.telemetry import log_context

logger = logging.getLogger(__name__)

State = Conversation.State
OWED = (State.WAITING, State.ASSIGNED)


def check_due(now: datetime | None = None) -> bool:
    """Act on one conversation whose customer's window closes within the lead time
    with their latest message unanswered; True if one was due (call again)."""
    now = now or timezone.now()
    row = HandoffSettings.load()
    lead = timedelta(minutes=row.reengage_before_minutes)
    due = (
        _owed()
        .filter(
            contact__last_inbound_at__gt=now - service_window.WINDOW,
            contact__last_inbound_at__lte=now - service_window.WINDOW + lead,
        )
        .order_by("contact__last_inbound_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if due is None:
        return False
    with log_context.working_on(due), transaction.atomic():
        _act(due, row, now=now)
    return True


def _owed():
    """Conversations with people whose customer's latest message is unanswered, not
    yet acted on."""
    return Conversation.objects.filter(
        state__in=OWED, waiting_since__isnull=False, window_alerted_at__isnull=True
    )


def _act(conversation_id: int, settings_row: HandoffSettings, *, now: datetime) -> None:
    if not _owed().filter(pk=conversation_id).update(window_alerted_at=now):
        return  # answered, resolved or acted on meanwhile
    conversation = transitions.current(conversation_id)
    closes_at = service_window.closes_at(conversation.contact)
    data = {
        "closes_at": closes_at.isoformat() if closes_at else None,
        "assignee": conversation.assignee.username if conversation.assignee else None,
    }
    campaign = _campaign_for(conversation, settings_row)
    if campaign is not None:
        language = customer_texts.language_of(conversation)
        properties = campaign_choice.conversation_properties(
            campaign,
            conversation,
            conversation.assignee,
            message=customer_texts.text(CustomerText.Key.REENGAGEMENT, language),
        )
        queue_outbound(
            conversation=conversation,
            text=campaign_choice.summary_text(campaign, properties),
            author_kind=Message.AuthorKind.SYSTEM,
            campaign=campaign,
            campaign_properties=properties,
        )
        data["campaign"] = campaign.key
        logger.info("Window closing: re-engagement campaign %r sent", campaign.key)
    else:
        logger.info("Window closing with no re-engagement campaign: agents alerted")
    transitions.record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.WINDOW_CLOSING,
        actor_kind=Message.AuthorKind.SYSTEM,
        data=data,
    )


def _campaign_for(conversation: Conversation, settings_row: HandoffSettings):
    """The team's active re-engagement campaign, else the settings'; None: alert."""
    team = conversation.team
    for campaign in (
        team.reengagement_campaign if team else None,
        settings_row.reengagement_campaign,
    ):
        if isinstance(campaign, BrazeCampaign) and campaign.is_active:
            return campaign
    return None
