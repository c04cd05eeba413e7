"""What a campaign send comes to, before anything is queued: which campaign, with which
properties, and whether it may go now.

Shared by the two services that send through campaigns, so that neither imports the
other: `conversations` (a bot's named campaign in its turn, the survey after a
resolution) and `campaigns` (an agent's send). The rules kept here:

- a bot's campaign is used only when it is active, its properties fit and the window
  allows it; otherwise `for_bot` says why and the answer falls back to plain text;
- a `response` campaign needs the customer's 24-hour window open, a `template` goes any
  time;
- the transcript shows a campaign send as its name and properties.

It reads campaigns and settings; it never writes, never queues and never talks to Braze.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings

from handoff.models import BrazeCampaign, Contact, Conversation
from handoff.rules import service_window
from handoff.rules.agents import display_name
from handoff.rules.campaign_properties import property_errors

logger = logging.getLogger(__name__)

Kind = BrazeCampaign.Kind


def find_active(key: str) -> BrazeCampaign | None:
    return BrazeCampaign.objects.filter(key=key, is_active=True).first() if key else None


def window_allows(campaign: BrazeCampaign, contact: Contact) -> bool:
    """A template may go any time; a response message only inside the 24-hour window."""
    return campaign.kind == Kind.TEMPLATE or service_window.is_open(contact)


def summary_text(campaign: BrazeCampaign, properties: dict[str, str]) -> str:
    """What the transcript, search and the bot's history show for a campaign send.

    The campaign's name, then its properties, so an agent reading the chat later
    sees what the customer was sent without opening Braze.
    """
    lines = [f"[{campaign.name}]"]
    lines += [f"{name}: {value}" for name, value in properties.items()]
    return "\n".join(lines)


# --- Bots and the system --------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What a bot's named campaign comes to: the campaign and properties to send, or
    None and the reason it cannot be used (the answer then goes as plain text)."""

    campaign: BrazeCampaign | None
    properties: dict[str, str] = field(default_factory=dict)
    problem: str = ""


def for_bot(*, key: str, properties: dict, text: str, contact: Contact) -> Choice:
    """Check a bot's named campaign. The answer text fills the settings' message
    property when the campaign declares it and the bot did not set it."""
    campaign = find_active(key)
    if campaign is None:
        return Choice(None, problem=f"no active campaign with the key {key[:60]!r}")
    properties = dict(properties or {})
    message_property = settings.BRAZE_MESSAGE_PROPERTY
    if message_property in campaign.property_list and message_property not in properties and text:
        properties[message_property] = text
    errors = property_errors(campaign, properties)
    if errors:
        detail = "; ".join(f"{name} {problem}" for name, problem in errors.items())
        return Choice(None, problem=f"campaign {key!r}: {detail}"[:500])
    if not window_allows(campaign, contact):
        return Choice(
            None, problem=f"campaign {key!r} is a response message and the 24-hour window is closed"
        )
    return Choice(campaign, properties)


def conversation_properties(
    campaign: BrazeCampaign, conversation: Conversation, agent, *, message: str
) -> dict[str, str]:
    """The facts a campaign sent into a conversation may declare and we can fill: the
    message property (`message`, in the customer's language), `conversation_id` and
    `agent_name`. Others are left for Braze to render empty, and logged."""
    known = {
        settings.BRAZE_MESSAGE_PROPERTY: message,
        "conversation_id": str(conversation.pk),
        "agent_name": display_name(agent) if agent else "",
    }
    unknown = [name for name in campaign.property_list if name not in known]
    if unknown:
        logger.warning(
            "Campaign %r declares properties handoff cannot fill: %s",
            campaign.key,
            ", ".join(unknown),
        )
    return {name: known[name] for name in campaign.property_list if name in known}
