"""Durable outbound delivery against the stand-in Braze: retries, order, failures, restarts."""

import math
import time

import pytest
import requests

from handoff.models import ConversationEvent, Message
from handoff.services.conversations import escalate
from handoff.services.delivery import retry_by_hand
from handoff.services.outbound import queue_outbound
from tests.conftest import wait_until
from tests.support.factories import make_conversation

pytestmark = pytest.mark.server


def queue_texts(conversation, texts):
    return [queue_outbound(conversation=conversation, text=t, author_kind="agent") for t in texts]


def accepted_texts(braze, user_id):
    return [
        m["trigger_properties"]["external_system_msg_body"]
        for m in braze.sent_messages()
        if m["external_user_id"] == user_id
    ]


def test_braze_failing_for_a_while_delays_but_loses_and_reorders_nothing(live, session_braze):
    session_braze.set_behaviour("error500", seconds=2.5)
    conversations = [make_conversation(external_id=f"order-{n}") for n in range(3)]
    expected = {}
    for conversation in conversations:
        texts = [f"{conversation.contact.external_id} #{i}" for i in range(6)]
        queue_texts(conversation, texts)
        expected[conversation.contact.external_id] = texts

    wait_until(
        lambda: Message.objects.filter(delivery_state="sent").count() == 18,
        timeout=30,
        message="not every message was delivered after Braze recovered",
    )

    failures = [
        r for r in session_braze.requests(path="/campaigns/trigger/send") if r["status"] == 500
    ]
    assert failures, "the stand-in never failed: the test proves nothing"
    for user_id, texts in expected.items():
        assert accepted_texts(session_braze, user_id) == texts
    assert Message.objects.filter(attempts__gt=1).exists()


def test_rate_limited_delivery_waits_until_braze_reset_time(live, session_braze):
    session_braze.set_behaviour("rate_limit", count=1, reset_in=2)
    conversation = make_conversation(external_id="rl-1")
    [message] = queue_texts(conversation, ["after the limit"])

    wait_until(lambda: Message.objects.get(pk=message.pk).delivery_state == "sent", timeout=15)

    limited = [
        r for r in session_braze.requests(path="/campaigns/trigger/send") if r["status"] == 429
    ]
    [accepted] = session_braze.sent_messages()
    assert len(limited) == 1
    # The stand-in's reset is reset_in after the 429, rounded up to a whole second.
    assert accepted["at"] >= math.ceil(limited[0]["at"] + 2), "sent before Braze's reset"
    assert Message.objects.get(pk=message.pk).attempts == 2


def test_a_rate_limit_pauses_sends_to_every_customer_until_the_reset(live, session_braze):
    session_braze.set_behaviour("rate_limit", count=1, reset_in=2)
    first, second = make_conversation(external_id="rl-a"), make_conversation(external_id="rl-b")
    queue_texts(first, ["to a"])
    wait_until(lambda: Message.objects.filter(delivery_state="retrying").exists())
    queue_texts(second, ["to b"])

    wait_until(lambda: Message.objects.filter(delivery_state="sent").count() == 2, timeout=15)

    sends = session_braze.requests(path="/campaigns/trigger/send")
    assert [r["status"] for r in sends].count(429) == 1, "a second send went out during the pause"
    [limited] = [r for r in sends if r["status"] == 429]
    reset = math.ceil(limited["at"] + 2)
    assert all(m["at"] >= reset for m in session_braze.sent_messages())


def test_unauthorized_is_failed_with_brazes_reason_and_not_retried_until_asked(live, session_braze):
    session_braze.set_behaviour("unauthorized")
    conversation = make_conversation(external_id="auth-1")
    [message] = queue_texts(conversation, ["needs a valid key"])

    failed = wait_until(
        lambda: Message.objects.filter(pk=message.pk, delivery_state="failed").first()
    )
    assert "401" in failed.last_error and "Invalid API key" in failed.last_error
    assert ConversationEvent.objects.filter(
        kind="delivery_failed", conversation=conversation
    ).exists()
    time.sleep(1.0)  # several poll intervals: nothing may retry on its own
    assert len(session_braze.requests(path="/campaigns/trigger/send")) == 1

    session_braze.set_behaviour("ok")
    assert retry_by_hand(message_id=message.pk) is True
    wait_until(lambda: Message.objects.get(pk=message.pk).delivery_state == "sent")
    assert accepted_texts(session_braze, "auth-1") == ["needs a valid key"]


def test_a_later_message_waits_behind_an_earlier_one_that_is_retrying(live, session_braze):
    session_braze.set_behaviour("error500", count=3)
    conversation = make_conversation(external_id="hol-1")
    queue_texts(conversation, ["first"])
    wait_until(lambda: Message.objects.filter(delivery_state="retrying").exists())
    queue_texts(conversation, ["second"])

    wait_until(lambda: Message.objects.filter(delivery_state="sent").count() == 2, timeout=15)
    assert accepted_texts(session_braze, "hol-1") == ["first", "second"]


def test_pending_messages_are_delivered_after_the_server_is_killed(
    app_server, session_braze, transactional_db
):
    session_braze.clear()
    session_braze.set_behaviour("error500")
    conversations = [make_conversation(external_id=f"kill-{n}") for n in range(4)]
    for conversation in conversations:
        escalate(conversation_id=conversation.pk, kind="keyword", detail="agent")
        queue_texts(conversation, ["after the crash"])
    wait_until(lambda: Message.objects.filter(delivery_state="retrying").count() >= 4)

    app_server.kill()
    session_braze.set_behaviour("ok")
    time.sleep(0.5)
    assert not session_braze.sent_messages(), "something was sent while the server was down"
    app_server.start()

    wait_until(
        lambda: Message.objects.filter(delivery_state="sent").count() == 8,
        timeout=20,
        message="pending messages were not delivered after restart",
    )
    for conversation in conversations:
        assert len(accepted_texts(session_braze, conversation.contact.external_id)) == 2


def test_a_send_cut_off_by_a_kill_is_sent_again_after_restart(
    app_server, session_braze, transactional_db
):
    """The kill falls between Braze accepting and us recording: at least once, never lost."""
    session_braze.clear()
    session_braze.set_behaviour("slow", delay=1.5)
    conversation = make_conversation(external_id="inflight-1")
    [message] = queue_texts(conversation, ["in flight"])
    wait_until(lambda: session_braze.requests(path="/campaigns/trigger/send"), timeout=10)

    app_server.kill()
    session_braze.set_behaviour("ok")
    app_server.start()

    # The claim (HANDOFF_CLAIM_SECONDS=5 in tests) must lapse before another worker takes it.
    sent = wait_until(
        lambda: Message.objects.filter(pk=message.pk, delivery_state="sent").first(), timeout=20
    )
    assert sent.attempts >= 1
    assert 1 <= len(accepted_texts(session_braze, "inflight-1")) <= 2


def test_webhook_keeps_accepting_while_braze_is_down(live, session_braze):
    session_braze.set_behaviour("error500")
    for n in range(5):
        response = requests.post(
            live.url + "/webhooks/braze/whatsapp/",
            json={"user_id": f"down-{n}", "phone_number": "+15550000", "message": "hi"},
            headers={"Authorization": "Bearer test-webhook-secret"},
            timeout=5,
        )
        assert response.status_code == 200
    assert Message.objects.filter(direction="in").count() == 5
