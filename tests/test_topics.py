"""Topic routing and the same message through two Braze campaigns, end to end.

The app runs under daphne with the stand-in Braze (HANDOFF_TOPIC_MERGE_SECONDS at its
default, 5 s). The server reads its list of keyword routes at most every 2 s, so each
test waits that long after creating routes before its first webhook.
"""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff.admin import TopicRouteForm, route_warnings
from handoff.bots import BotRequest
from handoff.bots.faq import FaqBot
from handoff.bots.http import HttpBot
from handoff.bots.openai import OpenAIBot
from handoff.models import (
    Contact,
    Conversation,
    ConversationEvent,
    FaqEntry,
    Message,
    TopicRoute,
)
from handoff.rules.payloads import InboundPayload
from handoff.rules.wait_estimate import Estimate
from handoff.services import topics
from handoff.services.inbound import accept_inbound
from handoff.services.topics import SPECIFIC_TOPICS_TTL_SECONDS
from tests.conftest import wait_until
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import make_conversation, webhook_body
from tests.support.texts import customer_text, handover_text

WINDOW = 5.0  # HANDOFF_TOPIC_MERGE_SECONDS's default, which the test server runs with
Kind = ConversationEvent.Kind


@pytest.fixture(scope="module", autouse=True)
def let_the_server_forget_these_routes():
    """Later test files must not meet this file's routes in the server's cache."""
    yield
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)


AN_AGENT_IS_FREE = Estimate(0.0, 0.0)  # aiko's inbox is open and she has room


def routes_ready() -> None:
    """Wait until the server's cached list of keyword routes includes what we made."""
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)


def sent_texts(braze, user_id: str) -> list[str]:
    return [
        m["trigger_properties"]["external_system_msg_body"]
        for m in braze.sent_messages()
        if m["external_user_id"] == user_id
    ]


def answered_at(braze, user_id: str) -> float:
    """When Braze accepted the first send to this customer (Unix seconds)."""
    return min(m["at"] for m in braze.sent_messages() if m["external_user_id"] == user_id)


def window_end(user_id: str) -> float:
    """When the merge window of the customer's first message ended (Unix seconds)."""
    message = Message.objects.filter(contact__external_id=user_id, direction="in").earliest("pk")
    return message.created_at.timestamp() + WINDOW


def settle(seconds: float = 1.0) -> None:
    """Give a second answer (which must not come) the time to arrive."""
    time.sleep(seconds)


def billing_to_agents() -> TopicRoute:
    return TopicRoute.objects.create(
        topic="billing", destination=TopicRoute.Destination.AGENTS, queue_label="Billing"
    )


def test_a_billing_message_waits_for_agents_with_its_label_and_the_bot_stays_silent(
    live, session_braze, agents_group
):
    billing_to_agents()
    FaqEntry.objects.create(questions="Why was I charged twice?", answer="FAQ answer")
    make_agent("aiko")
    session = login(live.url, "aiko")
    handover = handover_text(wait=AN_AGENT_IS_FREE)
    routes_ready()

    with open_inbox(live.url, session) as socket:
        json.loads(socket.recv(timeout=5))  # hello
        live.post_webhook(webhook_body("u-bill", "why was I charged twice?", topic="billing"))
        escalated = receive_until(
            socket,
            lambda e: (
                e["type"] == "conversation.updated"
                and (e["event"] or {}).get("kind") == "escalated"
            ),
        )

    shown = escalated["conversation"]
    assert (shown["state"], shown["queue_label"], shown["topic"]) == (
        "waiting",
        "Billing",
        "billing",
    )
    assert shown["escalation_reason"] == "topic:billing"
    wait_until(lambda: sent_texts(session_braze, "u-bill") == [handover])
    settle()
    assert sent_texts(session_braze, "u-bill") == [handover]
    assert not Message.objects.filter(author_kind=Message.AuthorKind.BOT).exists()

    listed = session.get(f"{live.url}/api/conversations/?queue=waiting", timeout=5).json()
    [summary] = listed["conversations"]
    assert (summary["queue_label"], summary["escalation_reason"]) == ("Billing", "topic:billing")
    labels = session.get(f"{live.url}/api/labels/", timeout=5).json()["labels"]
    assert labels == ["Billing"]


def test_the_label_filter_narrows_the_list_through_the_api(live, agents_group):
    billing_to_agents()
    TopicRoute.objects.create(
        topic="sales", destination=TopicRoute.Destination.AGENTS, queue_label="Sales"
    )
    make_agent("ben")
    session = login(live.url, "ben")
    routes_ready()
    live.post_webhook(webhook_body("u-f1", "invoice please", topic="billing"))
    live.post_webhook(webhook_body("u-f2", "a quote please", topic="sales"))
    wait_until(lambda: Conversation.objects.filter(state="waiting").count() == 2)

    def listed(label: str) -> list[str]:
        url = f"{live.url}/api/conversations/"
        page = session.get(url, params={"queue": "waiting", "label": label}, timeout=5).json()
        return [c["contact"]["external_id"] for c in page["conversations"]]

    assert listed("Billing") == ["u-f1"]
    assert listed("Sales") == ["u-f2"]
    assert sorted(listed("")) == ["u-f1", "u-f2"]
    assert listed("Nothing") == []
    counts = session.get(f"{live.url}/api/counts/", params={"label": "Billing"}, timeout=5)
    assert (counts.json()["waiting"], counts.json()["all"]) == (1, 1)
    assert session.get(f"{live.url}/api/counts/", timeout=5).json()["waiting"] == 2
    too_long = session.get(f"{live.url}/api/conversations/?label={'x' * 61}", timeout=5)
    assert too_long.status_code == 400 and "label" in too_long.json()["fields"]


def test_unknown_and_missing_topics_take_the_default_route_after_the_merge_window(
    live, session_braze
):
    billing_to_agents()
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    routes_ready()

    live.post_webhook(webhook_body("u-unknown", "what are your opening hours", topic="promo"))
    live.post_webhook(webhook_body("u-none", "what are your opening hours"))

    wait_until(lambda: sent_texts(session_braze, "u-unknown") == ["9 to 6."], timeout=20)
    wait_until(lambda: sent_texts(session_braze, "u-none") == ["9 to 6."], timeout=20)
    # Held while keyword routes exist, so that a keyword campaign's copy could still win:
    # each answer reached Braze after its question's window ended (events, not a stopwatch).
    for user_id in ("u-unknown", "u-none"):
        assert answered_at(session_braze, user_id) >= window_end(user_id)
    assert set(Conversation.objects.values_list("state", "queue_label")) == {("bot", "")}
    assert set(Message.objects.filter(direction="in").values_list("topic", flat=True)) == {
        "promo",
        "",
    }


def test_without_keyword_routes_the_default_route_answers_at_once(live, session_braze):
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    routes_ready()

    live.post_webhook(webhook_body("u-fast", "what are your opening hours", topic="promo"))

    wait_until(lambda: sent_texts(session_braze, "u-fast") == ["9 to 6."], timeout=10)
    # Not held: the answer came before a hold would even have ended.
    assert answered_at(session_braze, "u-fast") < window_end("u-fast")


def test_with_a_default_route_to_agents_unknown_and_missing_topics_go_to_agents(
    live, session_braze
):
    TopicRoute.objects.create(
        topic="general",
        destination=TopicRoute.Destination.AGENTS,
        queue_label="General",
        is_default=True,
    )
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    routes_ready()

    live.post_webhook(webhook_body("u-d1", "what are your opening hours"))
    live.post_webhook(webhook_body("u-d2", "what are your opening hours", topic="promo"))

    # Both wait in the General queue: the one handed over first is told number 1, the
    # other number 2, or also number 1 when the two hand-overs ran at once (PostgreSQL,
    # two workers: neither saw the other's uncommitted row).
    places = {handover_text(position=1), handover_text(position=2)}
    for customer in ("u-d1", "u-d2"):
        wait_until(lambda customer=customer: len(sent_texts(session_braze, customer)) == 1)
        assert set(sent_texts(session_braze, customer)) <= places
    assert handover_text(position=1) in sent_texts(session_braze, "u-d1") + sent_texts(
        session_braze, "u-d2"
    )
    rows = Conversation.objects.values_list("state", "queue_label", "escalation_kind")
    assert set(rows) == {("waiting", "General", "topic")}
    assert {c.escalation_reason for c in Conversation.objects.all()} == {"topic:general"}


@pytest.mark.parametrize("keyword_first", [False, True], ids=["catch-all-first", "keyword-first"])
def test_the_same_text_through_two_campaigns_is_stored_and_answered_once(
    live, session_braze, keyword_first
):
    billing_to_agents()
    handover = handover_text()
    routes_ready()
    catch_all = webhook_body("u-two", "my invoice is wrong", message_id="dispatch-catch-all")
    keyword = webhook_body(
        "u-two", "my invoice is wrong", message_id="dispatch-billing", topic="billing"
    )
    first, second = (keyword, catch_all) if keyword_first else (catch_all, keyword)

    a = live.post_webhook(first).json()
    b = live.post_webhook(second).json()

    assert (a["duplicate"], a["merged"]) == (False, False)
    assert (b["duplicate"], b["merged"]) == (True, True)
    assert b["message_id"] == a["message_id"]
    wait_until(lambda: sent_texts(session_braze, "u-two") == [handover])
    settle()
    assert sent_texts(session_braze, "u-two") == [handover]

    [message] = Message.objects.filter(direction="in")
    assert message.topic == "billing"  # the more specific topic, whichever came first
    [merged] = message.extra["merged"]
    assert merged["topic"] == second.get("topic", "")
    assert merged["message_id"] == second["message_id"]
    event = ConversationEvent.objects.get(kind=Kind.DUPLICATE_MERGED)
    assert event.data["topic"] == "billing"
    assert event.data["topic_changed"] is (not keyword_first)
    conversation = Conversation.objects.get()
    assert (conversation.state, conversation.queue_label) == ("waiting", "Billing")

    # Braze retrying the merged copy's request changes nothing.
    again = live.post_webhook(second).json()
    assert (again["duplicate"], again["merged"], again["message_id"]) == (
        True,
        True,
        a["message_id"],
    )
    assert ConversationEvent.objects.filter(kind=Kind.DUPLICATE_MERGED).count() == 1
    assert Message.objects.filter(direction="in").count() == 1


def move_back(user_id: str, seconds: float) -> None:
    """Make what was stored for this customer `seconds` older, as if that much time had
    passed: the merge window ends without the test sleeping through it."""
    delta = timedelta(seconds=seconds)
    contact = Contact.objects.get(external_id=user_id)
    Contact.objects.filter(pk=contact.pk).update(
        last_inbound_at=contact.last_inbound_at - delta,
        previous_inbound_at=(contact.previous_inbound_at or contact.last_inbound_at) - delta,
    )
    for message in Message.objects.filter(contact=contact):
        Message.objects.filter(pk=message.pk).update(created_at=message.created_at - delta)


@pytest.mark.parametrize("keyword_first", [False, True], ids=["catch-all-first", "keyword-first"])
def test_braze_retrying_a_merged_copy_after_the_window_is_still_a_repeat(
    live, session_braze, keyword_first
):
    """Braze retries for about 30 minutes, the merge window is seconds: the merged
    copy's key is remembered, so its retry is never stored or answered again."""
    billing_to_agents()
    handover = handover_text()
    routes_ready()
    catch_all = webhook_body("u-retry", "my invoice is wrong", message_id="dispatch-all")
    keyword = webhook_body(
        "u-retry", "my invoice is wrong", message_id="dispatch-kw", topic="billing"
    )
    first, second = (keyword, catch_all) if keyword_first else (catch_all, keyword)
    stored = live.post_webhook(first).json()
    assert live.post_webhook(second).json()["merged"] is True
    wait_until(lambda: sent_texts(session_braze, "u-retry") == [handover])

    move_back("u-retry", WINDOW * 4)
    retried = live.post_webhook(second)
    retried_first = live.post_webhook(first)

    assert retried.status_code == retried_first.status_code == 200
    assert (retried.json()["duplicate"], retried.json()["message_id"]) == (
        True,
        stored["message_id"],
    )
    assert (retried_first.json()["duplicate"], retried_first.json()["message_id"]) == (
        True,
        stored["message_id"],
    )
    settle()
    assert Message.objects.filter(direction="in").count() == 1
    assert sent_texts(session_braze, "u-retry") == [handover]
    assert ConversationEvent.objects.filter(kind=Kind.DUPLICATE_MERGED).count() == 1


def test_two_copies_posted_at_once_are_stored_once_and_the_bot_answers_once(live, session_braze):
    shipping = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")
    route = TopicRoute.objects.create(topic="shipping", destination=TopicRoute.Destination.BOT)
    route.knowledge.add(shipping)
    routes_ready()
    bodies = [
        webhook_body("u-race", "how much is shipping", message_id="d-catch-all"),
        webhook_body("u-race", "how much is shipping", message_id="d-kw", topic="shipping"),
    ]
    barrier = threading.Barrier(len(bodies))
    answers = []

    def post(body):
        barrier.wait()
        answers.append(live.post_webhook(body).json())

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a["merged"] for a in answers) == [False, True]
    assert len({a["message_id"] for a in answers}) == 1
    wait_until(lambda: sent_texts(session_braze, "u-race") == ["Free."], timeout=15)
    settle()
    assert sent_texts(session_braze, "u-race") == ["Free."]
    [message] = Message.objects.filter(direction="in")
    assert message.topic == "shipping"
    assert Conversation.objects.get().topic == "shipping"


def test_the_same_text_twice_through_one_campaign_is_two_messages(live, session_braze):
    billing_to_agents()
    routes_ready()

    a = live.post_webhook(webhook_body("u-yes", "yes", message_id="d1", topic="billing")).json()
    b = live.post_webhook(webhook_body("u-yes", "yes", message_id="d2", topic="billing")).json()

    assert not a["duplicate"] and not b["duplicate"]
    assert a["message_id"] != b["message_id"]
    assert Message.objects.filter(direction="in", text="yes").count() == 2
    assert not ConversationEvent.objects.filter(kind=Kind.DUPLICATE_MERGED).exists()


def test_the_same_text_after_the_window_is_a_new_message(live, session_braze):
    billing_to_agents()
    routes_ready()

    a = live.post_webhook(webhook_body("u-late", "refund", message_id="d1")).json()
    time.sleep(WINDOW + 0.3)
    b = live.post_webhook(webhook_body("u-late", "refund", message_id="d2", topic="billing"))

    assert b.json()["merged"] is False
    assert b.json()["message_id"] != a["message_id"]
    assert Message.objects.filter(direction="in", text="refund").count() == 2


def test_a_bot_route_answers_only_from_its_knowledge(live, session_braze):
    shipping = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    route = TopicRoute.objects.create(
        topic="shipping", destination=TopicRoute.Destination.BOT, queue_label="Shipping"
    )
    route.knowledge.add(shipping)
    miss = customer_text("bot_miss")
    routes_ready()

    live.post_webhook(webhook_body("u-sub", "what are your opening hours", topic="shipping"))
    wait_until(lambda: sent_texts(session_braze, "u-sub") == [miss])
    live.post_webhook(webhook_body("u-sub", "how much is shipping", topic="shipping"))
    wait_until(lambda: sent_texts(session_braze, "u-sub") == [miss, "Free."])

    conversation = Conversation.objects.get()
    assert (conversation.state, conversation.topic, conversation.queue_label) == (
        "bot",
        "shipping",
        "Shipping",
    )


def test_a_keyword_message_in_an_open_conversation_refiles_it(live, session_braze):
    billing_to_agents()
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    handover = handover_text()
    routes_ready()

    live.post_webhook(webhook_body("u-refile", "what are your opening hours"))
    wait_until(lambda: sent_texts(session_braze, "u-refile") == ["9 to 6."], timeout=15)
    live.post_webhook(webhook_body("u-refile", "about my bill", topic="billing"))

    wait_until(lambda: sent_texts(session_braze, "u-refile") == ["9 to 6.", handover])
    conversation = Conversation.objects.get()
    assert (conversation.state, conversation.topic, conversation.queue_label) == (
        "waiting",
        "billing",
        "Billing",
    )


def test_the_webhook_answer_documents_merged_false_for_a_plain_message(live):
    response = live.post_webhook(webhook_body("u-plain", "hello"))

    assert response.status_code == 200
    assert response.json()["merged"] is False


# --- The rules, in process ------------------------------------------------------------


@pytest.fixture
def fresh_routes(settings):
    """This process's cached view of the routes, re-read for the test and after it."""
    settings.HANDOFF_TOPIC_MERGE_SECONDS = WINDOW
    topics.forget_cached_routes()
    yield
    topics.forget_cached_routes()


def accept(user_id: str, text: str, topic: str = "", message_id: str = ""):
    payload = InboundPayload(
        user_id=user_id, phone_number="+8190", message=text, topic=topic, message_id=message_id
    )
    return accept_inbound(payload)


def test_a_route_is_chosen_by_message_topic_then_conversation_topic_then_default(db):
    billing = billing_to_agents()
    TopicRoute.objects.create(topic="sales", destination="agents", queue_label="Sales")
    TopicRoute.objects.create(topic="old", destination="agents", is_active=False)

    assert topics.resolve("billing").queue_label == "Billing"
    assert topics.resolve("BILLING ", "sales").topic == "billing"
    assert topics.resolve("", "sales").topic == "sales"
    assert topics.resolve("promo", "sales").topic == "sales"
    assert topics.resolve("old") == topics.BUILT_IN_DEFAULT
    assert topics.resolve("") == topics.BUILT_IN_DEFAULT

    general = TopicRoute.objects.create(topic="general", destination="bot", is_default=True)
    assert topics.resolve("promo").topic == "general"
    assert topics.resolve("").is_default
    billing.is_active = False
    billing.save()
    assert topics.resolve("billing").topic == general.topic


def test_a_bot_route_limits_knowledge_only_when_entries_are_chosen(db):
    chosen = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")
    off = FaqEntry.objects.create(questions="Old?", answer="Old.", is_active=False)
    route = TopicRoute.objects.create(
        topic="shipping", destination="bot", bot_instructions=" Be brief "
    )

    assert topics.resolve("shipping").knowledge_ids is None  # none chosen: everything
    route.knowledge.add(chosen, off)
    resolved = topics.resolve("shipping")
    assert resolved.knowledge_ids == (chosen.pk,)
    assert resolved.instructions == "Be brief"
    route.knowledge.set([off])
    assert topics.resolve("shipping").knowledge_ids == ()  # chosen, all switched off: none


def test_the_faq_bot_answers_only_from_the_subset_it_is_given(db):
    hours = FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    shipping = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")

    def ask(text, knowledge):
        request = BotRequest(1, 1, "u", "", text, knowledge_ids=knowledge)
        return FaqBot().answer(request).text

    assert ask("what are your opening hours", None) == "9 to 6."
    assert ask("what are your opening hours", (shipping.pk,)) == ""
    assert ask("how much is shipping", (shipping.pk,)) == "Free."
    assert ask("what are your opening hours", (hours.pk, shipping.pk)) == "9 to 6."


def test_the_llm_prompt_carries_the_route_instructions_and_only_its_knowledge(db):
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 6.")
    shipping = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")
    conversation = make_conversation()
    request = BotRequest(
        conversation.pk,
        10**9,
        "u",
        "",
        "hi",
        topic="shipping",
        instructions="Offer the tracking link first.",
        knowledge_ids=(shipping.pk,),
    )

    system = OpenAIBot().messages(request)[0]["content"]

    assert "Offer the tracking link first." in system
    assert "Free." in system
    assert "9 to 6." not in system
    assert system.index("Offer the tracking link") < system.index("Knowledge")


def test_the_http_bot_gets_the_route_only_when_it_says_something(db, settings):
    settings.HANDOFF_BOT_CONTEXT_CHARS = 100
    conversation = make_conversation()
    plain = BotRequest(conversation.pk, 10**9, "u", "", "hi", topic="promo")
    routed = BotRequest(
        conversation.pk,
        10**9,
        "u",
        "",
        "hi",
        topic="shipping",
        queue_label="Shipping",
        instructions="Be brief.",
        knowledge_ids=(3, 4),
    )

    assert "route" not in json.loads(HttpBot().request_body(plain))
    body = json.loads(HttpBot().request_body(routed))
    assert body["topic"] == "shipping"
    assert body["route"] == {
        "queue_label": "Shipping",
        "instructions": "Be brief.",
        "knowledge_ids": [3, 4],
    }


def test_a_default_route_message_is_held_for_the_window_only_while_keyword_routes_exist(
    db, fresh_routes
):
    first = accept("u-hold", "hello")
    assert Message.objects.get(pk=first.message_id).claimed_until is None

    billing_to_agents()
    topics.forget_cached_routes()
    held = Message.objects.get(pk=accept("u-hold", "hello again").message_id)
    keyword = Message.objects.get(pk=accept("u-hold", "bill", topic="Billing").message_id)

    assert held.claimed_until == held.created_at + timedelta(seconds=WINDOW)
    assert keyword.claimed_until is None
    assert keyword.topic == "billing"  # stored as routes match it, without case


def test_with_trigger_words_only_messages_that_contain_one_are_held(db, fresh_routes):
    route = billing_to_agents()
    route.trigger_words = "INVOICE, refund\nお支払い"
    route.save()
    topics.forget_cached_routes()

    ordinary = Message.objects.get(pk=accept("u-words", "where is my parcel?").message_id)
    invoice = Message.objects.get(pk=accept("u-words", "My Invoice is wrong").message_id)
    japanese = Message.objects.get(pk=accept("u-words", "お支払いについて").message_id)

    assert ordinary.claimed_until is None  # routed at once: no keyword copy can follow
    assert invoice.claimed_until == invoice.created_at + timedelta(seconds=WINDOW)
    assert japanese.claimed_until == japanese.created_at + timedelta(seconds=WINDOW)


def test_one_keyword_route_without_trigger_words_holds_every_default_route_message(
    db, fresh_routes
):
    route = billing_to_agents()
    route.trigger_words = "invoice"
    route.save()
    TopicRoute.objects.create(topic="shipping", queue_label="Shipping")
    topics.forget_cached_routes()

    ordinary = Message.objects.get(pk=accept("u-some", "where is my parcel?").message_id)

    assert ordinary.claimed_until == ordinary.created_at + timedelta(seconds=WINDOW)


def test_merging_upgrades_a_held_copy_and_releases_it_for_routing(db, fresh_routes):
    billing_to_agents()
    held = accept("u-up", "my bill", message_id="d-all")

    merged = accept("u-up", "my bill", topic="billing", message_id="d-kw")

    assert (merged.merged, merged.message_id) == (True, held.message_id)
    message = Message.objects.get(pk=held.message_id)
    assert (message.topic, message.claimed_until) == ("billing", None)
    assert message.extra["merged"][0]["replaced_topic"] == ""


def test_merged_copies_keys_are_kept_for_brazes_retries_only_and_only_so_many(db, fresh_routes):
    from handoff.services import inbound

    billing_to_agents()
    stored = accept("u-keys", "my bill", message_id="d-0")
    accept("u-keys", "my bill", topic="billing", message_id="d-kw-0")
    contact = Contact.objects.get(external_id="u-keys")
    [(first_key, entry)] = contact.merged_copy_keys.items()
    assert entry["message"] == stored.message_id
    too_old = timezone.now() - inbound.MERGED_COPY_MEMORY - timedelta(minutes=1)
    entry["at"] = too_old.isoformat()
    Contact.objects.filter(pk=contact.pk).update(merged_copy_keys={first_key: entry})

    for n in range(1, inbound.MERGED_COPY_LIMIT + 2):
        accept("u-keys", f"bill {n}", message_id=f"d-{n}")
        assert accept("u-keys", f"bill {n}", topic="billing", message_id=f"d-kw-{n}").merged

    kept = Contact.objects.get(pk=contact.pk).merged_copy_keys
    assert len(kept) == inbound.MERGED_COPY_LIMIT
    assert first_key not in kept  # older than any retry Braze still makes
    latest = Message.objects.get(direction="in", text=f"bill {inbound.MERGED_COPY_LIMIT + 1}")
    assert max(kept.values(), key=lambda e: e["at"])["message"] == latest.pk


def test_a_copy_a_worker_is_already_routing_keeps_its_topic(db, fresh_routes):
    billing_to_agents()
    stored = accept("u-busy", "my bill", message_id="d-all")
    Message.objects.filter(pk=stored.message_id).update(
        claimed_until=timezone.now() + timedelta(seconds=60)  # a worker's claim
    )

    merged = accept("u-busy", "my bill", topic="billing", message_id="d-kw")

    assert merged.merged
    assert Message.objects.get(pk=stored.message_id).topic == ""
    event = ConversationEvent.objects.get(kind=Kind.DUPLICATE_MERGED)
    assert event.data["topic_changed"] is False


def test_two_messages_each_through_both_campaigns_are_two_messages(db, fresh_routes):
    """ "yes" twice: each through the catch-all and the keyword campaign, interleaved."""
    billing_to_agents()
    results = [
        accept("u-yes2", "yes", topic=topic, message_id=f"d{n}")
        for n, topic in enumerate(["", "billing", "", "billing"])
    ]

    assert [r.merged for r in results] == [False, True, False, True]
    assert results[1].message_id == results[0].message_id
    assert results[3].message_id == results[2].message_id != results[0].message_id
    assert list(Message.objects.filter(direction="in").values_list("topic", flat=True)) == [
        "billing",
        "billing",
    ]


def test_different_media_or_text_is_never_merged(db, fresh_routes):
    billing_to_agents()
    accept("u-media", "look", message_id="d1")
    other_text = accept("u-media", "look!", topic="billing", message_id="d2")
    with_media = accept_inbound(
        InboundPayload(
            user_id="u-media",
            phone_number="+8190",
            message="look",
            media_urls=("https://example.com/a.jpg",),
            topic="billing",
            message_id="d3",
        )
    )

    assert not other_text.merged and not with_media.merged
    assert Message.objects.filter(direction="in").count() == 3


def test_a_merge_window_of_zero_turns_merging_and_holding_off(db, settings):
    settings.HANDOFF_TOPIC_MERGE_SECONDS = 0
    billing_to_agents()
    topics.forget_cached_routes()
    a = accept("u-off", "hi", message_id="d1")
    b = accept("u-off", "hi", topic="billing", message_id="d2")

    assert not b.merged and a.message_id != b.message_id
    assert Message.objects.get(pk=a.message_id).claimed_until is None


def test_admin_keeps_one_default_lowercases_topics_and_explains_unused_settings(db):
    TopicRoute.objects.create(topic="general", destination="bot", is_default=True)
    form = TopicRouteForm(
        data={"topic": "Billing", "destination": "agents", "is_default": True, "is_active": True}
    )
    assert not form.is_valid()
    assert "general" in form.errors["is_default"][0]

    form = TopicRouteForm(data={"topic": "Billing", "destination": "agents", "is_active": True})
    assert form.is_valid(), form.errors
    route = form.save()
    assert route.topic == "billing"
    clash = TopicRouteForm(data={"topic": "BILLING", "destination": "bot", "is_active": True})
    assert not clash.is_valid() and "topic" in clash.errors

    route.bot_instructions = "Be nice."
    assert any("not used" in str(w) for w in route_warnings(route))
    assert any("label" in str(w) for w in route_warnings(route))


def test_the_admin_lists_routes_and_warns_after_saving_settings_it_will_not_use(db, client):
    admin_user = get_user_model().objects.create_superuser("root", password="pw-123456789")
    client.force_login(admin_user)
    entry = FaqEntry.objects.create(questions="How much is shipping?", answer="Free.")

    response = client.post(
        "/admin/handoff/topicroute/add/",
        {
            "topic": "Billing",
            "destination": "agents",
            "queue_label": "Billing",
            "is_active": "on",
            "knowledge": [entry.pk],
            "bot_instructions": "Be nice.",
        },
        follow=True,
    )

    assert response.status_code == 200
    route = TopicRoute.objects.get()
    assert route.topic == "billing"
    assert any("not used" in str(m) for m in response.context["messages"])
    listing = client.get("/admin/handoff/topicroute/")
    assert listing.status_code == 200
    assert b"billing" in listing.content and b"Billing" in listing.content
    conversations = client.get("/admin/handoff/conversation/?queue_label=Billing")
    assert conversations.status_code == 200


def test_a_survey_score_through_two_campaigns_is_recorded_once(db, fresh_routes):
    billing_to_agents()
    conversation = make_conversation(external_id="u-score", state=Conversation.State.RESOLVED)
    Conversation.objects.filter(pk=conversation.pk).update(survey_sent_at=timezone.now())

    first = accept("u-score", "5", message_id="d-all")
    second = accept("u-score", "5", topic="billing", message_id="d-kw")

    assert (first.conversation_id, second.merged) == (conversation.pk, True)
    assert second.message_id == first.message_id
    assert Conversation.objects.get(pk=conversation.pk).satisfaction_score == 5
    assert Conversation.objects.count() == 1  # no new conversation from the second copy
    assert Message.objects.filter(direction="in").count() == 1


@pytest.mark.django_db(transaction=True)
def test_copies_stored_at_the_same_moment_by_two_writers_are_stored_once(fresh_routes):
    """Two connections, as two web processes have: the contact's row lock orders them
    on PostgreSQL, SQLite's single writer on SQLite."""
    from django.db import connection

    billing_to_agents()
    accept("u-two-writers", "hello")  # a known customer: the contact row exists
    for round_ in range(8):
        barrier = threading.Barrier(2)
        results = []

        def store(topic, round_=round_, barrier=barrier, results=results):
            try:
                barrier.wait()
                results.append(
                    accept("u-two-writers", f"copy {round_}", topic, f"d-{topic}-{round_}")
                )
            finally:
                connection.close()

        threads = [threading.Thread(target=store, args=(t,)) for t in ("", "billing")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.merged for r in results) == [False, True], round_
        assert results[0].message_id == results[1].message_id
    stored = Message.objects.filter(direction="in", text__startswith="copy")
    assert stored.count() == 8
    assert set(stored.values_list("topic", flat=True)) == {"billing"}


def test_the_merge_check_costs_no_query_unless_the_customer_wrote_within_the_window(
    db, fresh_routes
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from handoff.models import Contact

    first = accept("u-gate", "hello")
    contact = Contact.objects.get(external_id="u-gate")
    assert contact.previous_inbound_at is None
    Contact.objects.filter(pk=contact.pk).update(
        last_inbound_at=timezone.now() - timedelta(seconds=WINDOW + 1)
    )

    with CaptureQueriesContext(connection) as long_after:
        accept("u-gate", "hello")  # same text, another topic would be a copy: not in time
    with CaptureQueriesContext(connection) as soon_after:
        accept("u-gate", "hello", topic="promo")

    def merge_lookups(queries):
        return [q for q in queries if "ORDER BY id DESC LIMIT" in q["sql"]]

    assert merge_lookups(long_after.captured_queries) == []
    assert len(merge_lookups(soon_after.captured_queries)) == 1
    contact.refresh_from_db()
    assert contact.previous_inbound_at is not None
    assert contact.last_inbound_at - contact.previous_inbound_at < timedelta(seconds=WINDOW)
    assert Message.objects.filter(contact=contact).count() == 2  # promo merged into #2
    assert first.merged is False
