"""A waiting or assigned customer whose WhatsApp window is about to close unanswered
(issue 17, point 3): the re-engagement template goes out once, or the agents are
alerted (services/window_closing.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from handoff.models import (
    BrazeCampaign,
    Conversation,
    ConversationEvent,
    CustomerText,
    HandoffSettings,
    Message,
    Team,
)
from handoff.services import window_closing
from handoff.workers.threads import assign_or_return
from tests.support.factories import make_conversation

State = Conversation.State
NOW = datetime(2027, 1, 13, 3, 0, tzinfo=UTC)
CLOSING = "window_closing"


def owed(*, wrote_hours_ago: float, state=State.WAITING, **fields) -> Conversation:
    """A conversation whose customer last wrote that long ago, still unanswered."""
    conversation = make_conversation(state=state, **fields)
    wrote = NOW - timedelta(hours=wrote_hours_ago)
    conversation.contact.last_inbound_at = wrote
    conversation.contact.save()
    Conversation.objects.filter(pk=conversation.pk).update(waiting_since=wrote, escalated_at=wrote)
    return conversation


def template(key: str = "reengage") -> BrazeCampaign:
    return BrazeCampaign.objects.create(
        name=f"We are still here ({key})",
        key=key,
        campaign_id=f"tmpl-{key}",
        kind="template",
        property_names="external_system_msg_body",
    )


def events(conversation: Conversation) -> list[dict]:
    return list(
        ConversationEvent.objects.filter(conversation=conversation, kind=CLOSING).values_list(
            "data", flat=True
        )
    )


def sent(conversation: Conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, direction="out"))


@pytest.mark.django_db
def test_a_customer_whose_window_closes_within_the_hour_unanswered_gets_the_template_once():
    HandoffSettings.objects.filter(pk=1).update(reengagement_campaign=template())
    closing = owed(wrote_hours_ago=23.5)

    assert window_closing.check_due(NOW) is True
    assert window_closing.check_due(NOW) is False  # once per conversation
    assert window_closing.check_due(NOW + timedelta(minutes=20)) is False

    [message] = sent(closing)
    assert message.campaign.key == "reengage"
    assert message.campaign_properties == {
        "external_system_msg_body": CustomerText.objects.get(key="reengagement", language="en").text
    }
    [data] = events(closing)
    assert data["campaign"] == "reengage"
    assert data["closes_at"] == (NOW + timedelta(minutes=30)).isoformat()


@pytest.mark.django_db
def test_windows_further_off_answered_or_already_closed_are_left_alone():
    HandoffSettings.objects.filter(pk=1).update(reengagement_campaign=template())
    fresh = owed(wrote_hours_ago=20)  # closes in four hours
    lapsed = owed(wrote_hours_ago=25)  # closed: the inbox offers templates
    answered = owed(wrote_hours_ago=23.5)
    Conversation.objects.filter(pk=answered.pk).update(waiting_since=None)
    with_bot = owed(wrote_hours_ago=23.5, state=State.BOT)

    assert window_closing.check_due(NOW) is False
    for conversation in (fresh, lapsed, answered, with_bot):
        assert sent(conversation) == [] and events(conversation) == []


@pytest.mark.django_db
def test_the_teams_own_campaign_comes_first_and_the_message_is_in_the_customers_language():
    HandoffSettings.objects.filter(pk=1).update(reengagement_campaign=template("everyone"))
    billing = Team.objects.create(name="Billing", reengagement_campaign=template("billing"))
    closing = owed(wrote_hours_ago=23.9, team=billing)
    Message.objects.create(
        conversation=closing,
        contact=closing.contact,
        direction="in",
        author_kind="customer",
        text="まだですか",
        routing_state=Message.Routing.DONE,
    )

    window_closing.check_due(NOW)

    [message] = sent(closing)
    assert message.campaign.key == "billing"
    assert message.campaign_properties["external_system_msg_body"] == (
        CustomerText.objects.get(key="reengagement", language="ja").text
    )


@pytest.mark.django_db
def test_with_no_campaign_the_assignee_is_alerted_and_nothing_is_sent():
    aiko = get_user_model().objects.create_user("aiko")
    closing = owed(wrote_hours_ago=23.2, state=State.ASSIGNED, assignee=aiko)

    assert window_closing.check_due(NOW) is True

    assert sent(closing) == []
    assert events(closing) == [
        {"closes_at": (NOW + timedelta(minutes=48)).isoformat(), "assignee": "aiko"}
    ]


@pytest.mark.django_db
def test_the_lead_time_is_admins_and_the_assigner_thread_runs_the_check():
    HandoffSettings.objects.filter(pk=1).update(reengage_before_minutes=180)
    closing = owed(wrote_hours_ago=0)
    # The thread reads the real clock: the window closes in 2.5 hours from it.
    closing.contact.last_inbound_at = datetime.now(UTC) - timedelta(hours=21.5)
    closing.contact.save()

    while assign_or_return():
        pass

    assert len(events(closing)) == 1
