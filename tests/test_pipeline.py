"""The core pipeline end to end: webhook in, bot or escalation, delivery out to Braze.

Everything here runs against the app under daphne and the stand-in Braze.
"""

import asyncio
import threading

import pytest
import requests

from handoff.models import (
    Conversation,
    ConversationEvent,
    EscalationRule,
    FaqEntry,
    HandoffSettings,
    Message,
)
from tests.conftest import wait_until
from tests.support.factories import webhook_body
from tests.support.servers import CAMPAIGN_ID
from tests.support.texts import customer_text, handover_text

pytestmark = pytest.mark.server


def sent_texts(braze, user_id: str) -> list[str]:
    return [
        m["trigger_properties"]["external_system_msg_body"]
        for m in braze.sent_messages()
        if m["external_user_id"] == user_id
    ]


def test_faq_question_is_answered_at_braze_in_the_documented_request_shape(live, session_braze):
    FaqEntry.objects.create(
        questions="What are your opening hours?\n営業時間は？", answer="9:00-18:00 on weekdays."
    )

    response = live.post_webhook(webhook_body("u-faq", "what are your OPENING hours"))

    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    wait_until(lambda: session_braze.sent_messages(), message="no send reached Braze")
    [request] = session_braze.requests(path="/campaigns/trigger/send")
    assert request["method"] == "POST"
    # The stand-in checks the key itself (a wrong one is a 401) and records it masked.
    assert request["status"] == 201
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == {
        "campaign_id": CAMPAIGN_ID,
        "recipients": [
            {
                "external_user_id": "u-faq",
                "trigger_properties": {"external_system_msg_body": "9:00-18:00 on weekdays."},
            }
        ],
    }
    reply = wait_until(
        lambda: Message.objects.filter(author_kind="bot", delivery_state="sent").first()
    )
    assert reply.dispatch_id == request["dispatch_id"]
    assert Conversation.objects.get().state == Conversation.State.BOT


def test_keyword_escalation_sends_handover_text_and_leaves_conversation_waiting(
    live, session_braze
):
    EscalationRule.objects.create(phrase="agent", match=EscalationRule.Match.WORD)
    handover = handover_text()

    live.post_webhook(webhook_body("u-kw", "Can I talk to an ＡＧＥＮＴ please?"))

    wait_until(lambda: sent_texts(session_braze, "u-kw") == [handover])
    conversation = Conversation.objects.get()
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "keyword:agent"
    event = ConversationEvent.objects.get(kind=ConversationEvent.Kind.ESCALATED)
    assert event.data["reason"] == "keyword:agent"


@pytest.mark.parametrize("limit", [2, 3])
def test_unanswerable_messages_in_a_row_escalate_with_bot_fallback(live, session_braze, limit):
    EscalationRule.objects.all().delete()
    texts = HandoffSettings.load()
    texts.bot_miss_limit = limit
    texts.save()

    for n in range(limit):
        live.post_webhook(webhook_body("u-miss", f"blorp zzz {n}"))
        expected = [customer_text("bot_miss")] * min(n + 1, limit - 1)
        if n + 1 == limit:
            expected.append(handover_text())
        wait_until(
            lambda expected=expected: sent_texts(session_braze, "u-miss") == expected,
            message=f"after message {n}: {sent_texts(session_braze, 'u-miss')}",
        )

    conversation = Conversation.objects.get()
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "bot_fallback"


def test_an_answer_resets_the_run_of_unanswered_messages(live, session_braze):
    EscalationRule.objects.all().delete()
    FaqEntry.objects.create(questions="How much is shipping?", answer="Free over 5000 yen.")

    for text in ["blorp", "how much is shipping", "blorp again"]:
        live.post_webhook(webhook_body("u-reset", text))
    wait_until(lambda: len(sent_texts(session_braze, "u-reset")) == 3)

    assert sent_texts(session_braze, "u-reset") == [
        customer_text("bot_miss"),
        "Free over 5000 yen.",
        customer_text("bot_miss"),
    ]
    assert Conversation.objects.get().state == Conversation.State.BOT


def test_customer_messages_in_a_waiting_conversation_get_no_bot_reply(live, session_braze):
    EscalationRule.objects.create(phrase="agent", match=EscalationRule.Match.WORD)
    FaqEntry.objects.create(questions="How much is shipping?", answer="Free over 5000 yen.")
    live.post_webhook(webhook_body("u-wait", "agent"))
    wait_until(lambda: len(sent_texts(session_braze, "u-wait")) == 1)

    live.post_webhook(webhook_body("u-wait", "how much is shipping"))
    wait_until(lambda: Message.objects.filter(routing_state="done").count() == 2)

    assert len(sent_texts(session_braze, "u-wait")) == 1
    assert Message.objects.filter(author_kind="bot").count() == 0


def test_a_message_after_resolution_starts_a_new_bot_conversation(live, session_braze):
    EscalationRule.objects.all().delete()
    first = live.post_webhook(webhook_body("u-res", "hello")).json()
    Conversation.objects.filter(pk=first["conversation_id"]).update(
        state=Conversation.State.RESOLVED
    )

    second = live.post_webhook(webhook_body("u-res", "hello again")).json()

    assert second["conversation_id"] != first["conversation_id"]
    new = Conversation.objects.get(pk=second["conversation_id"])
    assert new.state == Conversation.State.BOT
    assert new.contact_id == Conversation.objects.get(pk=first["conversation_id"]).contact_id


def test_the_same_message_id_posted_twice_is_stored_and_answered_once(live, session_braze):
    EscalationRule.objects.all().delete()
    body = webhook_body("u-dup", "blorp", message_id="dispatch-1")

    first = live.post_webhook(body).json()
    second = live.post_webhook(body).json()

    assert first["duplicate"] is False and second["duplicate"] is True
    assert second["message_id"] == first["message_id"]
    wait_until(lambda: len(sent_texts(session_braze, "u-dup")) == 1)
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1


def test_the_same_message_id_posted_concurrently_is_stored_and_answered_once(live, session_braze):
    EscalationRule.objects.all().delete()
    body = webhook_body("u-race", "blorp", message_id="dispatch-race")
    barrier = threading.Barrier(12)
    results = []

    def post():
        barrier.wait()
        results.append(live.post_webhook(body).json())

    threads = [threading.Thread(target=post) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r["duplicate"] for r in results].count(False) == 1
    assert len({r["message_id"] for r in results}) == 1
    assert Message.objects.filter(direction="in").count() == 1
    wait_until(lambda: len(sent_texts(session_braze, "u-race")) == 1)
    assert Message.objects.filter(direction="out").count() == 1


def test_the_same_message_id_with_different_text_is_two_messages(live):
    EscalationRule.objects.all().delete()
    a = live.post_webhook(webhook_body("u-two", "yes", message_id="d-1")).json()
    b = live.post_webhook(webhook_body("u-two", "no", message_id="d-1")).json()

    assert a["message_id"] != b["message_id"]
    assert not a["duplicate"] and not b["duplicate"]


def test_text_is_stored_exactly_as_sent(live):
    EscalationRule.objects.all().delete()
    text = 'こんにちは 👩‍👩‍👧 "quoted" \\ back\\slash\nnew line\t<script>alert(1)</script>'
    response = live.post_webhook(webhook_body("u-exact", text, name="山田 太郎"))

    message = Message.objects.get(pk=response.json()["message_id"])
    assert message.text == text
    assert message.contact.name == "山田 太郎"


@pytest.mark.usefixtures("fresh_channel_layer")
def test_the_health_check_leaves_no_channel_behind():
    """Load balancers ask every few seconds for the life of the process: each check's
    channel must go (on Redis, its subscription) once answered."""
    from channels.layers import get_channel_layer

    from handoff.web import health

    async def check_three_times() -> tuple[list[bool], int, int]:
        layer = get_channel_layer()
        await health._channel_layer_ok()
        before = len(layer.channels)
        results = [await health._channel_layer_ok() for _ in range(3)]
        after = len(layer.channels)
        await layer.flush()
        return results, before, after

    results, before, after = asyncio.run(check_three_times())
    assert results == [True, True, True]
    assert after == before


def test_healthz_reports_database_and_channel_layer(live):
    response = requests.get(live.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "channel_layer": True}}
