"""WhatsApp's 24-hour window: free text after it is refused, never sent to fail at Braze."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from handoff.braze.client import BrazeClient
from handoff.models import Contact, Conversation, ConversationEvent, Message
from handoff.services.delivery import deliver_next
from handoff.services.outbound import queue_outbound
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.support.servers import BRAZE_API_KEY

pytestmark = pytest.mark.django_db
State = Conversation.State


@pytest.fixture
def aiko_api(agents_group):
    make_agent("aiko")
    client = Client()
    client.force_login(get_user_model().objects.get(username="aiko"))
    return client


def reply(client, conversation, text="Are you still there?"):
    return client.post(
        f"/api/conversations/{conversation.pk}/reply/",
        data=json.dumps({"text": text}),
        content_type="application/json",
    )


def last_wrote(conversation, ago: timedelta | None) -> None:
    Contact.objects.filter(pk=conversation.contact_id).update(
        last_inbound_at=None if ago is None else timezone.now() - ago
    )


def test_free_text_after_the_window_is_refused_with_the_reason_and_nothing_changes(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=25))

    response = reply(aiko_api, conversation)

    assert response.status_code == 409
    body = response.json()
    assert "24-hour window closed" in body["error"]
    assert "25 hours ago" in body["error"]
    assert "template" in body["error"]
    assert body["conversation"]["state"] == "bot"  # not taken over by the refused reply
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_free_text_inside_the_window_goes_out_even_an_hour_before_it_closes(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=23))

    response = reply(aiko_api, conversation)

    assert response.status_code == 201, response.content
    assert response.json()["message"]["delivery"]["state"] == "queued"


def test_a_customer_who_never_wrote_can_only_get_a_template(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, None)

    response = reply(aiko_api, conversation)

    assert response.status_code == 409
    assert "never written" in response.json()["error"]


def test_the_pane_says_whether_the_window_is_open(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=30))

    pane = aiko_api.get(f"/api/conversations/{conversation.pk}/").json()

    assert pane["contact"]["window_open"] is False


def test_a_queued_reply_that_outlived_the_window_fails_with_the_reason_unsent(braze):
    conversation = make_conversation(state=State.BOT)
    message = queue_outbound(
        conversation=conversation, text="Sorry for the wait", author_kind="bot"
    )
    last_wrote(conversation, timedelta(hours=24, minutes=1))  # Braze was down until now

    assert deliver_next(BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY)) is True

    message.refresh_from_db()
    assert message.delivery_state == Message.Delivery.FAILED
    assert "24-hour window closed" in message.last_error
    assert braze.requests("/campaigns/trigger/send") == []
    assert ConversationEvent.objects.filter(
        conversation=conversation, kind=ConversationEvent.Kind.DELIVERY_FAILED
    ).exists()


def test_a_japanese_agent_reads_the_reason_in_japanese(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=26))

    response = aiko_api.post(
        f"/api/conversations/{conversation.pk}/reply/",
        data=json.dumps({"text": "まだいらっしゃいますか？"}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="ja",
    )

    assert response.status_code == 409
    assert "24 時間ウィンドウ" in response.json()["error"]
    assert "26 時間前" in response.json()["error"]


def test_resolving_after_the_window_leaves_out_the_resolved_text_and_says_why(aiko_api):
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=30))

    response = aiko_api.post(f"/api/conversations/{conversation.pk}/resolve/")

    assert response.status_code == 200
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()
    event = ConversationEvent.objects.get(
        conversation=conversation, kind=ConversationEvent.Kind.RESOLVED
    )
    assert event.data["resolved_text"] == "not sent: the 24-hour window is closed"


def test_resolving_inside_the_window_sends_the_resolved_text(aiko_api):
    conversation = make_conversation(state=State.BOT)

    assert aiko_api.post(f"/api/conversations/{conversation.pk}/resolve/").status_code == 200

    sent = Message.objects.get(conversation=conversation, direction="out")
    assert sent.author_kind == Message.AuthorKind.SYSTEM
    assert (
        "resolved_text"
        not in ConversationEvent.objects.get(
            conversation=conversation, kind=ConversationEvent.Kind.RESOLVED
        ).data
    )
