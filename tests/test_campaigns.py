"""Several Braze campaigns: templates outside the 24-hour window, campaigns named by bots
and canned replies, the satisfaction survey after resolving.

The API's checks run in-process through Django's test client; sends are checked at
the stand-in Braze, either through the app under daphne (`live`) or by delivering
in-process to a stand-in of the test's own.
"""

import json
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from handoff.bots import BotAnswer
from handoff.braze.client import BrazeClient
from handoff.models import (
    BrazeCampaign,
    CannedReply,
    Contact,
    Conversation,
    ConversationEvent,
    FaqEntry,
    HandoffSettings,
    Message,
)
from handoff.rules.payloads import InboundPayload
from handoff.services import conversations
from handoff.services.delivery import deliver_next
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next
from tests.conftest import wait_until
from tests.devtools.bot_standin import SIGNATURE_HEADER, BotStandin, sign
from tests.support.agents import login, make_agent
from tests.support.factories import make_conversation, webhook_body
from tests.support.servers import BRAZE_API_KEY, CAMPAIGN_ID
from tests.support.texts import customer_text

State = Conversation.State
MESSAGE_PROPERTY = "external_system_msg_body"
TRIGGER_SEND = "/campaigns/trigger/send"


def make_template(**fields) -> BrazeCampaign:
    values = {
        "name": "Order update",
        "key": "order-update",
        "campaign_id": "tmpl-order-update",
        "kind": BrazeCampaign.Kind.TEMPLATE,
        "property_names": "customer_name\norder_number",
        "description": "Hi {{customer_name}}, news about order {{order_number}}.",
        **fields,
    }
    return BrazeCampaign.objects.create(**values)


def last_wrote(conversation: Conversation, ago: timedelta | None) -> None:
    Contact.objects.filter(pk=conversation.contact_id).update(
        last_inbound_at=None if ago is None else timezone.now() - ago
    )


def outbound(conversation: Conversation):
    return Message.objects.filter(conversation=conversation, direction="out").order_by("pk")


@pytest.fixture
def aiko_api(agents_group):
    make_agent("aiko")
    client = Client()
    client.force_login(get_user_model().objects.get(username="aiko"))
    return client


def post(client, path: str, body: dict, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def send_campaign(client, conversation, campaign="order-update", properties=None):
    return post(
        client,
        f"/api/conversations/{conversation.pk}/send-campaign/",
        {"campaign": campaign, "properties": properties or {}},
    )


GOOD = {"customer_name": "Sato", "order_number": "A-1001"}


# -- the agent's send: what is checked before anything is queued ---------------------------


@pytest.mark.django_db
def test_active_campaigns_are_listed_with_their_properties_and_description(aiko_api):
    make_template()
    make_template(name="Old", key="old", campaign_id="x", is_active=False)

    campaigns = aiko_api.get("/api/campaigns/").json()["campaigns"]

    assert campaigns == [
        {
            "key": "order-update",
            "name": "Order update",
            "kind": "template",
            "property_names": ["customer_name", "order_number"],
            "description": "Hi {{customer_name}}, news about order {{order_number}}.",
            "is_survey": False,
        }
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("properties", "field", "words"),
    [
        ({"customer_name": "Sato"}, "properties.order_number", "required"),
        ({**GOOD, "ordr": "A-1"}, "properties.ordr", "not a property"),
        ({**GOOD, "order_number": "9" * 1025}, "properties.order_number", "1,024"),
        ({**GOOD, "order_number": 1001}, "properties.order_number", "string"),
        ({**GOOD, "order_number": "  "}, "properties.order_number", "empty"),
        ({**GOOD, "order_number": "A\x00"}, "properties.order_number", "(U+0000)"),
        ({**GOOD, "order_number": "\x1b[2J"}, "properties.order_number", "(U+001B)"),
        ({**GOOD, "order_number": "\ud800"}, "properties.order_number", "(U+D800)"),
    ],
)
def test_properties_that_do_not_fit_the_campaign_are_refused_by_field(
    aiko_api, properties, field, words
):
    make_template()
    conversation = make_conversation(state=State.BOT)

    response = send_campaign(aiko_api, conversation, properties=properties)

    assert response.status_code == 400, response.content
    body = response.json()
    assert words in body["fields"][field]
    assert "Order update" in body["error"]
    assert not outbound(conversation).exists()
    assert Conversation.objects.get(pk=conversation.pk).state == State.BOT  # not taken over


@pytest.mark.django_db
def test_the_error_names_every_missing_and_unknown_property(aiko_api):
    make_template()
    conversation = make_conversation(state=State.BOT)

    response = send_campaign(aiko_api, conversation, properties={"name": "Sato"})

    error = response.json()["error"]
    assert "missing customer_name, order_number" in error
    assert "unknown name" in error


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["no-such-campaign", "retired"])
def test_an_unknown_or_inactive_campaign_is_refused(aiko_api, key):
    make_template(name="Retired", key="retired", campaign_id="old", is_active=False)
    conversation = make_conversation(state=State.BOT)

    response = send_campaign(aiko_api, conversation, campaign=key, properties={})

    assert response.status_code == 400
    assert "campaign" in response.json()["fields"]
    assert not outbound(conversation).exists()


@pytest.mark.django_db
def test_an_unknown_conversation_is_a_404(aiko_api):
    make_template()

    response = post(aiko_api, "/api/conversations/999999/send-campaign/", {"campaign": "x"})

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_response_campaign_outside_the_window_is_refused_with_the_reason(aiko_api):
    make_template(name="Menu", key="menu", campaign_id="resp-menu", kind="response")
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=30))

    response = send_campaign(aiko_api, conversation, campaign="menu", properties=GOOD)

    assert response.status_code == 409
    assert "24-hour window closed" in response.json()["error"]
    assert "template" in response.json()["error"]
    assert not outbound(conversation).exists()


@pytest.mark.django_db
def test_a_template_into_another_agents_conversation_is_a_conflict(aiko_api, agents_group):
    make_template()
    make_agent("ben")
    ben = get_user_model().objects.get(username="ben")
    conversation = make_conversation(state=State.ASSIGNED, assignee=ben)

    response = send_campaign(aiko_api, conversation, properties=GOOD)

    assert response.status_code == 409
    assert response.json()["assignee"] == "ben"
    assert not outbound(conversation).exists()


@pytest.mark.django_db
def test_a_template_into_a_bot_chat_takes_it_over_and_the_transcript_reads_it(aiko_api):
    make_template()
    conversation = make_conversation(state=State.BOT)

    response = send_campaign(aiko_api, conversation, properties=GOOD)

    assert response.status_code == 201, response.content
    message = response.json()["message"]
    assert message["campaign"] == {
        "key": "order-update",
        "name": "Order update",
        "kind": "template",
        "properties": GOOD,
    }
    assert message["text"] == "[Order update]\ncustomer_name: Sato\norder_number: A-1001"
    assert message["delivery"]["state"] == "queued"
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee.username) == (State.ASSIGNED, "aiko")
    pane = aiko_api.get(f"/api/conversations/{conversation.pk}/").json()
    assert pane["messages"][-1]["campaign"]["name"] == "Order update"


@pytest.mark.django_db
def test_a_template_reopens_a_resolved_conversation_for_the_agent(aiko_api):
    make_template()
    conversation = make_conversation(state=State.RESOLVED, resolved_at=timezone.now())
    last_wrote(conversation, timedelta(days=3))

    response = send_campaign(aiko_api, conversation, properties=GOOD)

    assert response.status_code == 201, response.content
    conversation.refresh_from_db()
    assert conversation.state == State.ASSIGNED
    assert conversation.assignee.username == "aiko"
    assert conversation.resolved_at is None
    event = ConversationEvent.objects.get(conversation=conversation, kind="reopened")
    assert event.actor.username == "aiko"
    assert event.data == {"campaign": "order-update"}


@pytest.mark.django_db
def test_reopening_conflicts_when_the_customer_has_another_open_conversation(aiko_api):
    make_template()
    old = make_conversation(state=State.RESOLVED, resolved_at=timezone.now())
    newer = Conversation.objects.create(contact=old.contact, state=State.BOT)

    response = send_campaign(aiko_api, old, properties=GOOD)

    assert response.status_code == 409
    assert f"#{newer.pk}" in response.json()["error"]
    old.refresh_from_db()
    assert old.state == State.RESOLVED
    assert not Message.objects.filter(direction="out").exists()
    assert not ConversationEvent.objects.filter(kind="reopened").exists()


# -- canned replies and admin's checks ------------------------------------------------------


@pytest.mark.django_db
def test_a_canned_reply_with_a_campaign_lists_it_with_its_properties(aiko_api):
    campaign = make_template()
    CannedReply.objects.create(
        shortcut="late",
        title="Order late",
        text="Your order is late",
        campaign=campaign,
        campaign_properties={"order_number": ""},
    )
    CannedReply.objects.create(shortcut="hi", title="Hi", text="Hello!")

    replies = aiko_api.get("/api/canned-replies/").json()["canned_replies"]

    assert replies[0]["campaign"] is None
    assert replies[1]["campaign"] == {
        "key": "order-update",
        "name": "Order update",
        "kind": "template",
        "property_names": ["customer_name", "order_number"],
        "description": "Hi {{customer_name}}, news about order {{order_number}}.",
        "is_survey": False,
        "properties": {"order_number": ""},
    }


@pytest.mark.django_db
def test_admin_refuses_properties_the_campaign_does_not_declare():
    campaign = make_template()
    entry = FaqEntry(
        questions="where is my order",
        answer="Let me check.",
        campaign=campaign,
        campaign_properties={"customer_name": "you", "order_nr": "1"},
    )
    with pytest.raises(ValidationError) as raised:
        entry.full_clean()
    text = str(raised.value.message_dict["campaign_properties"])
    assert "order_nr" in text
    assert "also needs order_number" in text

    reply = CannedReply(
        shortcut="x", title="x", text="x", campaign=campaign, campaign_properties={"order": 5}
    )
    with pytest.raises(ValidationError):
        reply.full_clean()
    reply.campaign_properties = {"order_number": "A-1"}  # the agent fills the rest
    reply.full_clean()


# -- bots naming a campaign -----------------------------------------------------------------


def inbound(text: str, user_id: str = "cust-1") -> int:
    payload = InboundPayload(user_id=user_id, phone_number="+8190", message=text)
    return accept_inbound(payload).conversation_id


class CampaignBot(BotStandin):
    """The HTTP bot stand-in, answering with a campaign (the documented protocol)."""

    answer: dict = {}

    def _response(self, behaviour, text):
        raw = json.dumps(self.answer).encode()
        return 200, raw, {SIGNATURE_HEADER: sign(self.secret, raw)}


@pytest.fixture
def campaign_bot(settings):
    with CampaignBot("bot-secret") as standin:
        settings.HANDOFF_BOT = "http"
        settings.HANDOFF_BOT_URL = standin.url
        settings.HANDOFF_BOT_SECRET = "bot-secret"
        yield standin


@pytest.mark.django_db(transaction=True)
def test_an_http_bot_answer_naming_a_campaign_goes_out_through_it(campaign_bot, braze):
    BrazeCampaign.objects.create(
        name="Size menu",
        key="size-menu",
        campaign_id="resp-size-menu",
        kind="response",
        property_names=f"{MESSAGE_PROPERTY}\nbutton_1\nbutton_2",
    )
    campaign_bot.answer = {
        "reply": "Which size?",
        "campaign": "size-menu",
        "properties": {"button_1": "Small", "button_2": "Large"},
    }
    conversation_id = inbound("I want the shirt")

    route_next()
    deliver_next(BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY))

    [sent] = braze.sent_messages()
    assert sent["campaign_id"] == "resp-size-menu"
    assert sent["trigger_properties"] == {
        MESSAGE_PROPERTY: "Which size?",
        "button_1": "Small",
        "button_2": "Large",
    }
    reply = Message.objects.get(conversation_id=conversation_id, direction="out")
    assert (reply.text, reply.campaign.key, reply.delivery_state) == (
        "Which size?",
        "size-menu",
        "sent",
    )


@pytest.mark.django_db(transaction=True)
def test_a_bot_naming_an_unknown_campaign_is_answered_as_text_and_the_reason_kept(
    campaign_bot, braze
):
    campaign_bot.answer = {"reply": "Pick one", "campaign": "no-such-menu"}
    conversation_id = inbound("options?")

    route_next()
    deliver_next(BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY))

    [sent] = braze.sent_messages()
    assert sent["campaign_id"] == CAMPAIGN_ID  # the settings' reply campaign
    assert sent["trigger_properties"] == {MESSAGE_PROPERTY: "Pick one"}
    reply = Message.objects.get(conversation_id=conversation_id, direction="out")
    assert reply.campaign is None
    assert "no-such-menu" in reply.extra["campaign_not_used"]["reason"]
    event = ConversationEvent.objects.get(conversation_id=conversation_id, kind="bot_reply_dropped")
    assert event.data["campaign"] == "no-such-menu"
    assert event.data["sent_as_text"] is True


@pytest.mark.django_db(transaction=True)
def test_a_campaign_only_answer_that_cannot_be_used_counts_as_a_miss(campaign_bot):
    campaign_bot.answer = {"campaign": "no-such-menu"}
    conversation_id = inbound("options?")

    route_next()

    [reply] = Message.objects.filter(conversation_id=conversation_id, direction="out")
    assert reply.text == customer_text("bot_miss")
    assert Conversation.objects.get(pk=conversation_id).bot_misses == 1


@pytest.mark.django_db
def test_a_bot_response_campaign_outside_the_window_falls_back_to_text():
    BrazeCampaign.objects.create(
        name="Menu", key="menu", campaign_id="resp-menu", kind="response", property_names=""
    )
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=25))
    conversation = Conversation.objects.select_related("contact").get(pk=conversation.pk)

    message = conversations.queue_bot_reply(conversation=conversation, text="Hi", campaign="menu")

    assert message.campaign is None
    assert "window is closed" in message.extra["campaign_not_used"]["reason"]


@pytest.mark.django_db
def test_bot_answer_has_an_answer_when_it_names_only_a_campaign():
    assert BotAnswer(campaign="menu").has_answer
    assert not BotAnswer().has_answer


# -- through the app under daphne -----------------------------------------------------------


def agent_session(live, username="aiko") -> requests.Session:
    make_agent(username)
    session = login(live.url, username)
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"})
    return session


@pytest.mark.server
def test_window_closed_refuses_free_text_and_a_template_goes_out_with_its_properties(
    live, session_braze, agents_group
):
    make_template()
    conversation = make_conversation(external_id="quiet-1", state=State.BOT)
    last_wrote(conversation, timedelta(hours=26))
    session = agent_session(live)
    base = f"{live.url}/api/conversations/{conversation.pk}"

    refused = session.post(f"{base}/reply/", json={"text": "Are you there?"}, timeout=10)
    assert refused.status_code == 409
    assert "24-hour window closed" in refused.json()["error"]
    assert not outbound(conversation).exists()

    sent = session.post(
        f"{base}/send-campaign/",
        json={"campaign": "order-update", "properties": GOOD},
        timeout=10,
    )
    assert sent.status_code == 201, sent.text

    [delivered] = session_braze.wait_for(lambda messages: len(messages) == 1, timeout=10)
    assert delivered["external_user_id"] == "quiet-1"
    assert delivered["campaign_id"] == "tmpl-order-update"
    assert delivered["trigger_properties"] == GOOD
    message = wait_until(
        lambda: Message.objects.filter(
            pk=sent.json()["message"]["id"], delivery_state="sent"
        ).first()
    )
    assert message.dispatch_id == delivered["dispatch_id"]


@pytest.mark.server
def test_a_template_queued_after_a_reply_never_overtakes_it_even_through_retries(
    live, session_braze, agents_group
):
    make_template()
    conversation = make_conversation(external_id="order-1", state=State.BOT)
    session = agent_session(live)
    base = f"{live.url}/api/conversations/{conversation.pk}"
    # For a while, not for a count: profile updates (/users/track) share the stand-in.
    session_braze.set_behaviour("error500", seconds=2.0)

    assert session.post(f"{base}/reply/", json={"text": "One moment"}, timeout=10).ok
    assert session.post(
        f"{base}/send-campaign/",
        json={"campaign": "order-update", "properties": GOOD},
        timeout=10,
    ).ok

    delivered = session_braze.wait_for(lambda messages: len(messages) == 2, timeout=20)
    assert [m["campaign_id"] for m in delivered] == [CAMPAIGN_ID, "tmpl-order-update"]
    assert delivered[0]["trigger_properties"] == {MESSAGE_PROPERTY: "One moment"}
    failures = [r for r in session_braze.requests(TRIGGER_SEND) if r["status"] == 500]
    assert failures, "the stand-in never failed a send: the test proves nothing"
    # Only the head of the customer's queue is ever tried: the template waited.
    assert {r["body"]["campaign_id"] for r in failures} == {CAMPAIGN_ID}
    wait_until(lambda: outbound(conversation).filter(delivery_state="sent").count() == 2)
    reply, template = outbound(conversation)
    assert reply.attempts == len(failures) + 1
    assert template.attempts == 1


@pytest.mark.server
def test_a_template_that_braze_fails_is_retried_like_any_message(live, session_braze, agents_group):
    make_template()
    conversation = make_conversation(external_id="retry-1", state=State.BOT)
    last_wrote(conversation, timedelta(hours=40))
    session = agent_session(live)
    session_braze.set_behaviour("error500", seconds=1.5)

    response = session.post(
        f"{live.url}/api/conversations/{conversation.pk}/send-campaign/",
        json={"campaign": "order-update", "properties": GOOD},
        timeout=10,
    )

    [delivered] = session_braze.wait_for(lambda messages: len(messages) == 1, timeout=15)
    assert delivered["campaign_id"] == "tmpl-order-update"
    message = wait_until(
        lambda: Message.objects.filter(
            pk=response.json()["message"]["id"], delivery_state="sent"
        ).first()
    )
    failures = [r for r in session_braze.requests(TRIGGER_SEND) if r["status"] == 500]
    assert failures, "the stand-in never failed the send: the test proves nothing"
    assert message.attempts == len(failures) + 1


@pytest.mark.server
def test_a_faq_answer_with_a_quick_reply_campaign_reaches_braze_through_it(live, session_braze):
    menu = BrazeCampaign.objects.create(
        name="Hours menu",
        key="hours-menu",
        campaign_id="resp-hours-menu",
        kind="response",
        property_names=f"{MESSAGE_PROPERTY}\nbutton_1",
    )
    FaqEntry.objects.create(
        questions="What are your opening hours?",
        answer="9:00-18:00 on weekdays.",
        campaign=menu,
        campaign_properties={"button_1": "Talk to a person"},
    )

    live.post_webhook(webhook_body("u-menu", "what are your opening hours"))

    [delivered] = session_braze.wait_for(lambda messages: len(messages) == 1, timeout=10)
    assert delivered["campaign_id"] == "resp-hours-menu"
    assert delivered["trigger_properties"] == {
        MESSAGE_PROPERTY: "9:00-18:00 on weekdays.",
        "button_1": "Talk to a person",
    }


@pytest.mark.server
def test_the_survey_goes_out_after_the_resolved_text_and_is_stamped(
    live, session_braze, agents_group
):
    survey = BrazeCampaign.objects.create(
        name="Satisfaction",
        key="survey",
        campaign_id="tmpl-survey",
        kind="template",
        is_survey=True,
        property_names="agent_name",
    )
    texts = HandoffSettings.load()
    texts.survey_campaign = survey
    texts.save()
    conversation = make_conversation(external_id="happy-1", state=State.BOT)
    session = agent_session(live)

    response = session.post(
        f"{live.url}/api/conversations/{conversation.pk}/resolve/", json={}, timeout=10
    )

    assert response.status_code == 200, response.text
    delivered = session_braze.wait_for(lambda messages: len(messages) == 2, timeout=10)
    assert delivered[0]["trigger_properties"] == {MESSAGE_PROPERTY: customer_text("resolved")}
    assert delivered[1]["campaign_id"] == "tmpl-survey"
    assert delivered[1]["trigger_properties"] == {"agent_name": "aiko"}
    conversation.refresh_from_db()
    assert conversation.survey_sent_at is not None
    event = ConversationEvent.objects.get(conversation=conversation, kind="resolved")
    assert event.data["survey"] == {"campaign": "survey", "sent": True}


@pytest.mark.django_db
def test_a_response_survey_with_the_window_closed_is_skipped_and_recorded(aiko_api):
    survey = BrazeCampaign.objects.create(
        name="Quick survey", key="survey", campaign_id="resp-survey", kind="response"
    )
    texts = HandoffSettings.load()
    texts.survey_campaign = survey
    texts.save()
    conversation = make_conversation(state=State.BOT)
    last_wrote(conversation, timedelta(hours=25))

    assert post(aiko_api, f"/api/conversations/{conversation.pk}/resolve/", {}).status_code == 200

    conversation.refresh_from_db()
    assert conversation.survey_sent_at is None
    assert not outbound(conversation).filter(campaign__isnull=False).exists()
    event = ConversationEvent.objects.get(conversation=conversation, kind="resolved")
    assert event.data["survey"]["sent"] is False
    assert "window" in event.data["survey"]["reason"]


@pytest.mark.server
def test_the_customers_answer_to_the_survey_we_sent_is_recorded_as_the_score(
    live, session_braze, agents_group
):
    survey = BrazeCampaign.objects.create(
        name="Satisfaction", key="survey", campaign_id="tmpl-survey", is_survey=True
    )
    texts = HandoffSettings.load()
    texts.survey_campaign = survey
    texts.save()
    conversation = make_conversation(external_id="rate-1", state=State.BOT)
    session = agent_session(live)
    session.post(f"{live.url}/api/conversations/{conversation.pk}/resolve/", json={}, timeout=10)
    session_braze.wait_for(
        lambda messages: any(m["campaign_id"] == "tmpl-survey" for m in messages), timeout=10
    )

    live.post_webhook(webhook_body("rate-1", "5"))

    scored = wait_until(
        lambda: Conversation.objects.filter(pk=conversation.pk, satisfaction_score=5).first()
    )
    assert scored.state == State.RESOLVED
    assert Conversation.objects.filter(contact_id=conversation.contact_id).count() == 1
