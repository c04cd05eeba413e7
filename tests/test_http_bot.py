"""The HTTP bot against a real stand-in bot service on loopback, routed in-process.

The stand-in implements the protocol from docs/http-bot.md with its own HMAC code,
so these tests check the documented protocol, not our signing against itself.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from handoff.bots import BotError, BotRequest, Turn, signing
from handoff.bots.http import HttpBot, bounded_transcript
from handoff.models import Conversation, Message
from handoff.rules.payloads import InboundPayload
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next
from tests.devtools.bot_standin import BotStandin, signature_ok
from tests.support.texts import customer_text, handover_text

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "test-bot-secret"


@pytest.fixture
def bot_service(settings):
    with BotStandin(SECRET) as standin:
        settings.HANDOFF_BOT = "http"
        settings.HANDOFF_BOT_URL = standin.url
        settings.HANDOFF_BOT_SECRET = SECRET
        settings.HANDOFF_BOT_TIMEOUT_SECONDS = 2.0
        yield standin


def inbound(text: str, user_id: str = "cust-1", **extra) -> int:
    payload = InboundPayload(user_id=user_id, phone_number="+8190", message=text, **extra)
    return accept_inbound(payload).conversation_id


def outbound_texts(conversation_id: int) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, direction="out")
        .order_by("pk")
        .values_list("author_kind", "text")
    )


# -- what the service receives -------------------------------------------------------


def test_the_request_is_signed_so_that_the_service_can_verify_it(bot_service):
    inbound("hello")
    route_next()

    [received] = bot_service.requests()
    header = received["headers"][signing.HEADER]
    assert received["verified"] is True
    assert signature_ok(SECRET, received["raw"], header)
    assert signing.verify(SECRET, received["raw"], header)
    assert not signature_ok("another-secret", received["raw"], header)
    with pytest.raises(signing.SignatureError):
        signing.verify("another-secret", received["raw"], header)


def test_a_signature_older_than_five_minutes_is_refused():
    body = b'{"reply": "hi"}'
    header = signing.sign(SECRET, body, timestamp=1_000_000)

    with pytest.raises(signing.SignatureError, match="timestamp"):
        signing.verify(SECRET, body, header, now=1_000_000 + 301)
    assert signing.verify(SECRET, body, header, now=1_000_000 + 299) == 1_000_000


def test_the_body_carries_the_conversation_contact_text_topic_and_transcript(bot_service):
    conversation_id = inbound("first question", name="Aiko", topic="billing")
    route_next()
    inbound("second question", name="Aiko", topic="billing")
    route_next()

    body = bot_service.requests()[-1]["body"]
    second = Message.objects.get(text="second question")
    assert body == {
        "conversation_id": conversation_id,
        "message_id": second.pk,
        "contact": {"external_id": "cust-1", "name": "Aiko"},
        "text": "second question",
        "topic": "billing",
        "transcript": [
            {"role": "customer", "text": "first question"},
            {"role": "bot", "text": "echo: first question"},
        ],
    }


def test_the_transcript_keeps_the_newest_turns_within_the_context_budget(bot_service, settings):
    settings.HANDOFF_BOT_CONTEXT_CHARS = 30
    for text in ("a" * 20, "b" * 5, "c" * 5):
        inbound(text)
        route_next()
    inbound("now")
    route_next()

    transcript = bot_service.requests()[-1]["body"]["transcript"]
    # Before "now": aaaa, echo aaaa, bbbbb, echo: bbbbb, ccccc, echo: ccccc (oldest first).
    assert transcript == [
        {"role": "bot", "text": "echo: bbbbb"},
        {"role": "customer", "text": "ccccc"},
        {"role": "bot", "text": "echo: ccccc"},
    ]
    assert sum(len(turn["text"]) for turn in transcript) <= 30


def test_bounded_transcript_is_oldest_first_and_drops_whole_turns():
    turns = (Turn("customer", "x" * 10), Turn("bot", "y" * 10), Turn("customer", "z" * 10))

    assert bounded_transcript(turns, 25) == [
        {"role": "bot", "text": "y" * 10},
        {"role": "customer", "text": "z" * 10},
    ]
    assert bounded_transcript(turns, 5) == []


# -- what routing makes of the answer -------------------------------------------------


def test_a_text_answer_is_queued_as_the_bot_reply(bot_service):
    conversation_id = inbound("where is my parcel?")

    route_next()

    assert outbound_texts(conversation_id) == [("bot", "echo: where is my parcel?")]
    reply = Message.objects.get(author_kind="bot")
    assert reply.delivery_state == Message.Delivery.QUEUED
    assert Conversation.objects.get(pk=conversation_id).state == Conversation.State.BOT


def test_a_handoff_answer_makes_the_conversation_wait_with_the_reason(bot_service):
    bot_service.set_behaviour("handoff", reason="wants a refund")
    conversation_id = inbound("give me my money back")

    route_next()

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "bot_handoff"
    assert conversation.escalation_detail == "wants a refund"
    handover = handover_text()
    assert outbound_texts(conversation_id) == [("system", handover)]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("bad_json", "not JSON"),
        ("error500", "HTTP 500"),
        ("unsigned", "no X-Handoff-Signature header"),
        ("wrong_signature", "does not match"),
        ("wrong_types", "must be"),
        ("too_long", "at most 4096"),
    ],
)
def test_a_broken_answer_gets_the_fallback_then_escalates_bot_error(bot_service, mode, error):
    bot_service.set_behaviour(mode)
    fallback = customer_text("bot_miss")
    conversation_id = inbound("hello?")

    route_next()

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.BOT
    assert conversation.bot_misses == 1
    assert outbound_texts(conversation_id) == [("bot", fallback)]

    inbound("hello??")
    route_next()

    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "bot_error"
    assert error in conversation.escalation_detail


def test_a_slow_service_times_out_and_counts_as_a_miss(bot_service, settings):
    settings.HANDOFF_BOT_TIMEOUT_SECONDS = 0.2
    bot_service.set_behaviour("echo", delay=1.0)
    conversation_id = inbound("anyone there?")

    route_next()

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.bot_misses == 1
    assert outbound_texts(conversation_id) == [("bot", customer_text("bot_miss"))]


def test_an_answer_dripping_in_slower_than_the_timeout_is_cut_off(bot_service, settings):
    """Each byte arrives within requests' per-read timeout; the whole answer does not.

    The deadline's clock is the test's: it moves 0.2 s each time the bot looks at it,
    so the cut-off is decided by the bytes read, not by how busy the machine is."""
    settings.HANDOFF_BOT_TIMEOUT_SECONDS = 0.5
    bot_service.set_behaviour("drip")
    readings: list[float] = []

    def clock() -> float:
        readings.append(len(readings) * 0.2)
        return readings[-1]

    with pytest.raises(BotError, match="did not answer within 0.5 s"):
        HttpBot(clock=clock).answer(BotRequest(1, 1, "c", "", "hi"))
    # The deadline (0.5) was read at 0.0, then checked as the first bytes came in.
    assert readings == pytest.approx([0.0, 0.2, 0.4, 0.6])


def test_an_unreachable_service_is_a_bot_error_not_a_crash(settings):
    settings.HANDOFF_BOT_URL = "http://127.0.0.1:9/bot"  # discard: nothing listens
    settings.HANDOFF_BOT_SECRET = SECRET
    request = BotRequest(1, 1, "c", "", "hi")

    with pytest.raises(BotError, match="could not reach the bot"):
        HttpBot().answer(request)


@pytest.mark.parametrize("missing", ["HANDOFF_BOT_URL", "HANDOFF_BOT_SECRET"])
def test_a_missing_url_or_secret_is_named_at_first_use(settings, missing):
    settings.HANDOFF_BOT_URL = "http://127.0.0.1:9/bot"
    settings.HANDOFF_BOT_SECRET = SECRET
    setattr(settings, missing, "")
    bot = HttpBot()  # constructing is harmless; asking is not

    with pytest.raises(ImproperlyConfigured, match=missing):
        bot.answer(BotRequest(1, 1, "c", "", "hi"))


def test_the_session_is_kept_between_messages_of_a_routing_thread(bot_service):
    assert HttpBot().session is HttpBot().session


# -- the admin's "try the bot" page -----------------------------------------------------


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("root", password="x-pass-123")
    client.force_login(user)
    return client


def test_try_the_bot_shows_the_answer_and_stores_nothing(bot_service, staff):
    url = reverse("admin:handoff_try_bot")
    assert staff.get(url).status_code == 200

    response = staff.post(url, {"message": "opening hours?"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "echo: opening hours?" in page
    assert "ms</td>" in page
    assert not Message.objects.exists()
    assert bot_service.requests()[0]["body"]["message_id"] == 0


def test_try_the_bot_escapes_the_message_and_the_answer(bot_service, staff):
    response = staff.post(reverse("admin:handoff_try_bot"), {"message": "<script>x()</script>"})

    page = response.content.decode()
    assert "<script>x()</script>" not in page
    assert "echo: &lt;script&gt;x()&lt;/script&gt;" in page


def test_try_the_bot_shows_a_hand_over_with_its_reason(bot_service, staff):
    bot_service.set_behaviour("handoff", reason="<b>angry</b>")

    page = staff.post(reverse("admin:handoff_try_bot"), {"message": "hi"}).content.decode()

    assert 'id="try-bot-handoff"' in page
    assert "&lt;b&gt;angry&lt;/b&gt;" in page


def test_try_the_bot_shows_the_error_of_a_broken_service(bot_service, staff):
    bot_service.set_behaviour("error500")

    page = staff.post(reverse("admin:handoff_try_bot"), {"message": "hi"}).content.decode()

    assert 'id="try-bot-error"' in page
    assert "HTTP 500" in page


def test_try_the_bot_sends_a_conversations_transcript(bot_service, staff):
    conversation_id = inbound("my order is late")
    route_next()

    staff.post(
        reverse("admin:handoff_try_bot"), {"message": "still late", "conversation": conversation_id}
    )

    body = bot_service.requests()[-1]["body"]
    assert body["conversation_id"] == conversation_id
    assert [turn["text"] for turn in body["transcript"]] == [
        "my order is late",
        "echo: my order is late",
    ]
    assert Message.objects.count() == 2  # the trial stored nothing


def test_try_the_bot_is_refused_to_non_staff(bot_service, client):
    user = get_user_model().objects.create_user("agent", password="x-pass-123")
    client.force_login(user)

    response = client.post(reverse("admin:handoff_try_bot"), {"message": "hi"})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert bot_service.requests() == []


def test_the_faq_list_links_to_try_the_bot(staff):
    page = staff.get(reverse("admin:handoff_faqentry_changelist")).content.decode()

    assert reverse("admin:handoff_try_bot") in page


def test_the_request_body_is_compact_utf8_json(bot_service):
    inbound("配送状況を知りたい")
    route_next()

    raw = bot_service.requests()[0]["raw"]
    assert "配送状況を知りたい".encode() in raw
    assert json.loads(raw)["text"] == "配送状況を知りたい"


# -- the pure parts, over many inputs ----------------------------------------------------


@given(body=st.binary(max_size=512), flip=st.integers(min_value=0))
def test_any_body_verifies_as_signed_and_not_after_any_byte_changes(body, flip):
    header = signing.sign(SECRET, body)
    assert signing.verify(SECRET, body, header)
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(signing.SignatureError):
            signing.verify(SECRET, changed, header)


@given(
    texts=st.lists(st.text(max_size=40), max_size=12),
    budget=st.integers(min_value=0, max_value=200),
)
def test_the_bounded_transcript_is_the_longest_suffix_that_fits(texts, budget):
    turns = tuple(Turn("customer", text) for text in texts)

    kept = [turn["text"] for turn in bounded_transcript(turns, budget)]

    assert kept == texts[len(texts) - len(kept) :]
    assert sum(map(len, kept)) <= budget
    if len(kept) < len(texts):
        assert sum(map(len, texts[len(texts) - len(kept) - 1 :])) > budget
