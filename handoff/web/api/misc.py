"""The small reads the inbox needs around conversations: me, agents, counts, canned
replies, campaigns and the event catch-up."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.http import HttpRequest, JsonResponse

from handoff.live.feed import catch_up
from handoff.live.presence import online_agent_ids
from handoff.models import CannedReply
from handoff.selectors import inbox
from handoff.services import campaigns
from handoff.web.api.auth import agent_api
from handoff.web.api.input import int_param


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


@agent_api("GET")
def me(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {
            "username": user.get_username(),
            "display_name": _display_name(user),
            "is_staff": user.is_staff,
        }
    )


@agent_api("GET")
def agents(request: HttpRequest) -> JsonResponse:
    """Everyone `is_agent` accepts, found in one query rather than a has_perm per user."""
    permission = Permission.objects.filter(
        codename="answer_conversations", content_type__app_label="handoff"
    )
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__in=permission)
            | Q(groups__permissions__in=permission)
        )
        .distinct()
        .order_by("username")
    )
    online = online_agent_ids()
    return JsonResponse(
        {
            "agents": [
                {
                    "username": user.get_username(),
                    "display_name": _display_name(user),
                    "online": user.pk in online,
                }
                for user in users
            ]
        }
    )


@agent_api("GET")
def counts(request: HttpRequest) -> JsonResponse:
    label = request.GET.get("label", "")[:100]  # longer than any label: matches none
    return JsonResponse(inbox.counts(agent=request.user, label=label))


@agent_api("GET")
def canned_replies(request: HttpRequest) -> JsonResponse:
    """Each reply, with the campaign it is sent through (None: inserted as text). A
    reply whose campaign was deactivated is offered as plain text."""
    rows = (
        CannedReply.objects.filter(is_active=True).select_related("campaign").order_by("shortcut")
    )
    return JsonResponse({"canned_replies": [_canned(row) for row in rows]})


def _canned(row: CannedReply) -> dict:
    campaign = row.campaign if row.campaign_id and row.campaign.is_active else None
    return {
        "shortcut": row.shortcut,
        "title": row.title,
        "text": row.text,
        "campaign": {**campaigns.describe(campaign), "properties": row.campaign_properties}
        if campaign
        else None,
    }


@agent_api("GET")
def campaign_list(request: HttpRequest) -> JsonResponse:
    """The active campaigns agents may send (templates reach a customer any time)."""
    return JsonResponse(
        {"campaigns": [campaigns.describe(c) for c in campaigns.active_campaigns()]}
    )


@agent_api("GET")
def events(request: HttpRequest) -> JsonResponse:
    after = int_param(request, "after", default=None, low=0)
    result = catch_up(after)
    return JsonResponse({"events": result.events, "latest": result.latest, "resync": result.resync})
