"""WhatsApp's 24-hour customer service window: when free text can still reach a customer.

Free-form "response messages" are allowed only within 24 hours of the customer's last
inbound message (a quick-reply tap counts); after that only a Meta-approved template
can be sent. Braze would accept such a send and WhatsApp would drop it, so the agent
would believe a reply went out that never arrives: we refuse it before it is queued,
and a queued reply that could not leave in time fails with this reason instead of
being sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from handoff.models import Contact

WINDOW = timedelta(hours=24)


def closes_at(contact: Contact) -> datetime | None:
    """When free text stops reaching this customer; None if they never wrote."""
    return contact.last_inbound_at + WINDOW if contact.last_inbound_at else None


def is_open(contact: Contact, now: datetime | None = None) -> bool:
    closes = closes_at(contact)
    return closes is not None and (now or timezone.now()) < closes


def closed_reason(contact: Contact, now: datetime | None = None) -> str:
    """Why free text cannot be sent now, in words an agent can act on."""
    closes = closes_at(contact)
    if closes is None:
        return _(
            "This customer has never written to us, so WhatsApp allows only an approved "
            "template message."
        )
    hours = ((now or timezone.now()) - contact.last_inbound_at).total_seconds() / 3600
    return _(
        "WhatsApp's 24-hour window closed at %(closed)s: the customer last wrote "
        "%(hours)d hours ago. Only an approved template message can reach them until "
        "they write again."
    ) % {"closed": timezone.localtime(closes).strftime("%Y-%m-%d %H:%M %Z"), "hours": hours}
