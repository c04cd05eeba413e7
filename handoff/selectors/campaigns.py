"""The Braze campaigns as the inbox offers them: which agents may send, and how each is
described (its kind, the properties it declares, whether it is a survey).

It never changes a row and never decides whether a send is allowed: the window and
property rules are `services.campaigns`' to enforce when the agent sends.
"""

from handoff.models import BrazeCampaign


def describe(campaign: BrazeCampaign) -> dict:
    """A campaign as the API and the inbox show it."""
    return {
        "key": campaign.key,
        "name": campaign.name,
        "kind": campaign.kind,
        "property_names": campaign.property_list,
        "description": campaign.description,
        "is_survey": campaign.is_survey,
    }


def active_campaigns() -> list[dict]:
    """The active campaigns, described, by name: what an agent may pick to send
    (templates reach a customer any time, response campaigns only inside the window)."""
    return [describe(c) for c in BrazeCampaign.objects.filter(is_active=True).order_by("name")]
