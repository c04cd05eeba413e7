"""The canned replies the inbox offers, each with the campaign it is sent through.

It never changes a row. It decides only what is offered: a reply whose campaign was
deactivated is offered as plain text rather than hidden, since its text still helps.
"""

from handoff.models import CannedReply
from handoff.selectors.campaigns import describe


def active_canned_replies() -> list[dict]:
    """The active replies by shortcut, with their campaigns in the same query; a
    reply's `campaign` is None when it is inserted as text."""
    rows = (
        CannedReply.objects.filter(is_active=True).select_related("campaign").order_by("shortcut")
    )
    return [_offered(row) for row in rows]


def _offered(row: CannedReply) -> dict:
    campaign = row.campaign if row.campaign_id and row.campaign.is_active else None
    return {
        "shortcut": row.shortcut,
        "title": row.title,
        "text": row.text,
        "campaign": {**describe(campaign), "properties": row.campaign_properties}
        if campaign
        else None,
    }
