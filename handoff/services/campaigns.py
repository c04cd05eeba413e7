"""Sending through the admin's Braze campaigns: templates, quick-reply menus, surveys.

The settings' reply campaign carries plain text; these others carry the trigger
properties their message was built with in Braze. The rules enforced here, before
anything is queued, so that nothing is sent only to fail at Braze or WhatsApp:

- a campaign gets exactly the properties it declares, each a non-empty string within
  WhatsApp's 1,024-character template body limit;
- a `response` campaign needs the customer's 24-hour window open, a `template` goes
  any time (that is what templates are for: reaching a customer who went quiet);
- agents send through `send_campaign`, which follows `send_agent_reply`'s ownership
  rules and may reopen a resolved conversation; bots name a campaign by key and
  `campaign_choice.for_bot` decides whether it can be used or the answer falls back to
  plain text.

The window's rule, the transcript's summary and the bot's choice live in
`campaign_choice`, which `conversations` uses too: this module calls `conversations`
(to take a chat over), never the other way round.

It never talks to Braze: delivery sends the queued row like any other message, in
the same per-customer order.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from handoff.models import BrazeCampaign, Conversation, ConversationEvent, Message
from handoff.rules import service_window
from handoff.rules.campaign_properties import (
    CampaignInvalid,
    invalid_properties,
    property_errors,
)
from handoff.services import conversations, reply_timer, reporting, seats, sla, transitions
from handoff.services.campaign_choice import find_active, summary_text, window_allows
from handoff.services.outbound import queue_outbound

State = Conversation.State


def _resolve_campaign(campaign: BrazeCampaign | str) -> BrazeCampaign:
    if isinstance(campaign, BrazeCampaign):
        if not campaign.is_active:
            raise CampaignInvalid(
                _("The campaign “%(name)s” is not active.") % {"name": campaign.name},
                {"campaign": _("is not active.")},
            )
        return campaign
    found = find_active(campaign) if isinstance(campaign, str) else None
    if found is None:
        raise CampaignInvalid(
            _("There is no active campaign with the key “%(key)s”.") % {"key": str(campaign)[:60]},
            {"campaign": _("is not an active campaign's key.")},
        )
    return found


# --- Agents ---------------------------------------------------------------------------


@transaction.atomic
def send_campaign(
    *,
    conversation_id: int,
    agent: AbstractBaseUser,
    campaign: BrazeCampaign | str,
    properties: dict[str, str],
) -> Message:
    """An agent sends a campaign; the same ownership rules as a free-text reply.

    Writing into a bot or waiting chat takes it over; one assigned to another agent is
    a conflict. A resolved one is reopened and assigned to the agent (re-engaging a
    customer whose window closed is what templates are for), unless the customer has
    opened another conversation meanwhile: the database's one-open-conversation rule
    decides, and the agent is told which one to use. Raises CampaignInvalid for a bad
    campaign or properties, WindowClosed for a response campaign outside the window.
    """
    campaign = _resolve_campaign(campaign)
    errors = property_errors(campaign, properties)
    if errors:
        raise invalid_properties(campaign, properties, errors)
    current = transitions.current(conversation_id)
    if not window_allows(campaign, current.contact):
        raise transitions.WindowClosed(
            service_window.closed_reason(current.contact)
            + " "
            + _("“%(name)s” is a response message; choose a template campaign.")
            % {"name": campaign.name},
            conversation=current,
        )
    if current.state == State.RESOLVED:
        current = _reopen(current, agent, campaign)
    elif current.state in (State.BOT, State.WAITING):
        current = conversations.take_over(conversation_id=conversation_id, agent=agent)
    elif current.assignee_id != agent.pk:
        raise transitions.conflict(current, agent)
    # Lock the row, as send_agent_reply does, so a transfer or resolve cannot slip in.
    locked = transitions.transition(
        conversation_id,
        from_states=[State.ASSIGNED],
        extra_filter=transitions.owned_by(agent.pk),
    )
    if locked is None:
        raise transitions.conflict(transitions.current(conversation_id), agent)
    reply_timer.answered(conversation_id, agent_id=agent.pk)
    return queue_outbound(
        conversation=current,
        text=summary_text(campaign, properties),
        author_kind=Message.AuthorKind.AGENT,
        author=agent,
        campaign=campaign,
        campaign_properties=dict(properties),
    )


def _reopen(
    conversation: Conversation, agent: AbstractBaseUser, campaign: BrazeCampaign
) -> Conversation:
    """Resolved → assigned to `agent`, with a REOPENED event; a conflict if the contact
    has another open conversation (the unique constraint is the judge, not a read)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            # A new episode with people: its SLA clocks start now, as at a take-over
            # (the resolution clock does not count the time it was resolved).
            reopened = transitions.transition(
                conversation.pk,
                from_states=[State.RESOLVED],
                state=State.ASSIGNED,
                assignee=agent,
                assigned_at=now,
                escalated_at=now,
                first_reply_at=None,
                resolved_at=None,
            )
    except IntegrityError:
        other = (
            Conversation.objects.filter(contact_id=conversation.contact_id)
            .exclude(state=State.RESOLVED)
            .values_list("pk", flat=True)
            .first()
        )
        raise transitions.ConversationConflict(
            _(
                "This customer already has an open conversation (#%(id)s); send from "
                "there instead of reopening this one."
            )
            % {"id": other if other is not None else "?"},
            conversation=conversation,
        ) from None
    if reopened is None:  # no longer resolved: someone else acted first
        raise transitions.conflict(transitions.current(conversation.pk), agent)
    seats.lock_seat(agent.pk)  # after the conversation row, as the assigner does
    sla.refresh(reopened.pk, now, into=reopened)
    reporting.handed_over(
        reopened, at=now, since=conversation.resolved_at, reason=reporting.REOPENED
    )
    reporting.assigned(reopened, agent_id=agent.pk, at=now)
    transitions.record_event(
        conversation=reopened,
        kind=ConversationEvent.Kind.REOPENED,
        actor=agent,
        actor_kind=Message.AuthorKind.AGENT,
        data={"campaign": campaign.key},
    )
    seats.announce_load(agent.pk)
    return reopened
