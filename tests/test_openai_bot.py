"""The OpenAI-compatible bot, against a stand-in model server on loopback.

Routing runs in-process with the real bot and a real HTTP server that answers with
text, a hand-over tool call, malformed JSON, a 500, or slowly. The take-over race
runs end to end: daphne with HANDOFF_BOT=openai, the stand-in model, the stand-in Braze.
"""

import threading
import time

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from handoff.bots import BotError, Turn, get_bot
from handoff.bots.openai import UNSTATED_REASON, OpenAIBot, parse_completion
from handoff.bots.prompting import (
    HANDOFF_TOOL,
    NO_TEXT,
    bounded_transcript,
    chat_messages,
    handoff_tool,
    knowledge_text,
)
from handoff.models import BotSettings, Conversation, ConversationEvent, FaqEntry
from handoff.models import Message as Msg
from handoff.rules.payloads import MAX_MESSAGE_CHARS, InboundPayload
from handoff.services import conversations
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next
from tests.conftest import ARTIFACTS, wait_until
from tests.devtools.openai_standin import OpenAIStandin
from tests.support.factories import webhook_body
from tests.support.servers import AppServer, server_env
from tests.support.texts import customer_text, handover_text

API_KEY = "test-openai-key"
MODEL = "test-model"


# --- In-process: routing with the real bot and the stand-in model ---------------------


@pytest.fixture
def model_server():
    with OpenAIStandin(api_key=API_KEY) as standin:
        yield standin


@pytest.fixture
def openai_bot(settings, model_server, transactional_db):
    """Routing in this process asks the stand-in model, as a deployment asks OpenAI."""
    settings.HANDOFF_BOT = "openai"
    settings.OPENAI_BASE_URL = model_server.url
    settings.OPENAI_API_KEY = API_KEY
    settings.OPENAI_MODEL = MODEL
    settings.OPENAI_TEMPERATURE = 0.2
    settings.OPENAI_TIMEOUT_SECONDS = 5.0
    settings.HANDOFF_BOT_CONTEXT_CHARS = 6000
    return model_server


def inbound(text: str, user_id: str = "cust-1") -> int:
    return accept_inbound(
        InboundPayload(user_id=user_id, phone_number="+8190", message=text)
    ).conversation_id


def outbound() -> list[tuple[str, str]]:
    """(author, text) of everything queued for the customer, in order."""
    return list(
        Msg.objects.filter(direction="out").order_by("pk").values_list("author_kind", "text")
    )


def test_a_text_answer_is_queued_and_the_conversation_stays_with_the_bot(openai_bot):
    openai_bot.set_behaviour("text", text="Our shop opens at 9:00.")
    conversation_id = inbound("When do you open?")

    assert route_next() is True

    assert outbound() == [("bot", "Our shop opens at 9:00.")]
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.BOT
    assert conversation.bot_misses == 0


def test_the_request_carries_key_model_temperature_prompt_faq_and_the_handoff_tool(
    openai_bot,
):
    FaqEntry.objects.create(
        questions="What are your opening hours?\n営業時間は？", answer="9:00-18:00 on weekdays."
    )
    FaqEntry.objects.create(questions="Do you ship abroad?", answer="No.", is_active=False)
    inbound("営業時間を教えて")

    route_next()

    [request] = openai_bot.completions()
    # The stand-in refuses any other key with a 401; it records the header masked.
    assert request["status"] == 200
    assert request["headers"]["Authorization"] == "Bearer ***"
    body = request["body"]
    assert body["model"] == MODEL
    assert body["temperature"] == 0.2
    assert body["tools"] == [handoff_tool()]
    assert body["tools"][0]["function"]["name"] == HANDOFF_TOOL
    system, *rest = body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith(BotSettings.load().system_prompt.strip())
    assert (
        "Q: What are your opening hours? / 営業時間は？\nA: 9:00-18:00 on weekdays."
        in (system["content"])
    )
    assert "ship abroad" not in system["content"], "an inactive FAQ entry was sent"
    assert rest == [{"role": "user", "content": "営業時間を教えて"}]


def test_the_prompt_edited_in_admin_is_sent_and_faq_knowledge_can_be_switched_off(openai_bot):
    FaqEntry.objects.create(questions="Opening hours?", answer="9:00-18:00.")
    bot_settings = BotSettings.load()
    bot_settings.system_prompt = "You are Hana from Example Tea. Answer in one sentence."
    bot_settings.use_faq_as_knowledge = False
    bot_settings.save()
    inbound("hello")

    route_next()

    [request] = openai_bot.completions()
    system = request["body"]["messages"][0]
    assert system == {
        "role": "system",
        "content": "You are Hana from Example Tea. Answer in one sentence.",
    }


@pytest.mark.parametrize(
    ("context_chars", "expected"),
    [
        (
            10_000,
            [
                ("user", "Hello there"),
                ("assistant", "Hi! How can I help?"),
                ("user", "Where is my parcel?"),
                ("assistant", "It left on Monday."),
                ("user", "And the returns address?"),
            ],
        ),
        # Exactly the two newest turns fit: the oldest go first.
        (
            len("Where is my parcel?") + len("It left on Monday."),
            [
                ("user", "Where is my parcel?"),
                ("assistant", "It left on Monday."),
                ("user", "And the returns address?"),
            ],
        ),
    ],
)
def test_the_transcript_is_sent_in_order_and_bounded_newest_kept(
    openai_bot, settings, context_chars, expected
):
    for question, answer in [
        ("Hello there", "Hi! How can I help?"),
        ("Where is my parcel?", "It left on Monday."),
    ]:
        openai_bot.set_behaviour("text", text=answer)
        inbound(question)
        route_next()
    settings.HANDOFF_BOT_CONTEXT_CHARS = context_chars
    openai_bot.clear()
    inbound("And the returns address?")

    route_next()

    [request] = openai_bot.completions()
    sent = [(m["role"], m["content"]) for m in request["body"]["messages"][1:]]
    assert sent == expected


def test_a_handoff_tool_call_escalates_with_the_reason_for_the_agent(openai_bot):
    openai_bot.set_behaviour("handoff", reason="Customer wants a refund for order 1234.")
    conversation_id = inbound("I want my money back for order 1234")

    route_next()

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_kind == Conversation.EscalationKind.BOT_HANDOFF
    assert conversation.escalation_detail == "Customer wants a refund for order 1234."
    assert outbound() == [("system", handover_text())]
    event = ConversationEvent.objects.get(kind=ConversationEvent.Kind.ESCALATED)
    assert event.data == {
        "reason": "bot_handoff",
        "detail": "Customer wants a refund for order 1234.",
        "queue_position": 1,
        "wait_told": None,  # no agent at their desk
    }


FAILURES = {
    "malformed": ({"mode": "malformed"}, "not JSON"),
    "error500": ({"mode": "error500"}, "answered 500"),
    "slow": ({"mode": "slow", "seconds": 3}, "did not answer within 0.5 s"),
    "wrong_key": (None, "answered 401"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failing_model_gets_the_customer_the_miss_text_then_escalates_with_bot_error(
    openai_bot, settings, failure
):
    behaviour, detail = FAILURES[failure]
    if behaviour is None:
        settings.OPENAI_API_KEY = "not-the-key"
    else:
        openai_bot.set_behaviour(**behaviour)
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    conversation_id = inbound("Is my order on its way?")

    route_next()

    assert outbound() == [("bot", customer_text("bot_miss"))]
    conversation = Conversation.objects.get(pk=conversation_id)
    assert (conversation.state, conversation.bot_misses) == (Conversation.State.BOT, 1)

    inbound("Hello??")
    route_next()

    assert outbound() == [("bot", customer_text("bot_miss")), ("system", handover_text())]
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_kind == Conversation.EscalationKind.BOT_ERROR
    assert detail in conversation.escalation_detail
    assert API_KEY not in conversation.escalation_detail
    assert len(openai_bot.completions()) == 2


def test_a_slow_model_is_abandoned_after_about_the_timeout(openai_bot, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    openai_bot.set_behaviour("slow", seconds=60)  # the stand-in's stop ends it early
    inbound("anyone there?")

    started = time.monotonic()
    route_next()
    took = time.monotonic() - started

    # Order of events, not a stopwatch: routing gave up while the model still had not
    # answered (its request has no status yet), and not before the timeout could pass.
    [completion] = openai_bot.completions()
    assert completion["status"] is None, "routing waited for the slow model's answer"
    assert took >= 0.45, f"routing gave up after {took:.2f} s with a 0.5 s timeout"
    assert outbound() == [("bot", customer_text("bot_miss"))]


def test_one_thread_reuses_its_bot_and_its_connection(openai_bot):
    inbound("first", user_id="a")
    inbound("second", user_id="b")

    route_next()
    route_next()

    first, second = openai_bot.completions()
    assert first["client_port"] == second["client_port"], "a new connection per message"
    assert get_bot() is get_bot()
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(get_bot()))
    thread.start()
    thread.join()
    assert isinstance(elsewhere[0], OpenAIBot)
    assert elsewhere[0] is not get_bot(), "a bot (and its Session) shared between threads"


def test_an_agent_taking_over_in_process_drops_the_slow_answer(openai_bot, agents_group):
    agent = get_user_model().objects.create_user("aiko", password="x")
    agent.groups.add(agents_group)
    openai_bot.set_behaviour("slow", seconds=1.5, text="Your parcel arrives tomorrow.")
    conversation_id = inbound("Where is my parcel?")
    router = threading.Thread(target=lambda: (route_next(), connection.close()))
    router.start()
    openai_bot.wait_for_requests(1)

    conversations.take_over(conversation_id=conversation_id, agent=agent)
    router.join(10)

    assert not router.is_alive()
    assert outbound() == []
    dropped = ConversationEvent.objects.get(kind=ConversationEvent.Kind.BOT_REPLY_DROPPED)
    assert dropped.data["text"] == "Your parcel arrives tomorrow."
    assert Conversation.objects.get(pk=conversation_id).state == Conversation.State.ASSIGNED


# --- Pure parts: the messages sent and the answers understood -------------------------


turns = st.lists(
    st.builds(Turn, role=st.sampled_from(["customer", "bot", "agent"]), text=st.text(max_size=30)),
    max_size=12,
)


@given(turns=turns, max_chars=st.integers(min_value=0, max_value=120))
def test_the_bounded_transcript_is_the_longest_newest_run_of_whole_turns_that_fits(
    turns, max_chars
):
    kept = bounded_transcript(turns, max_chars)

    spoken = [turn for turn in turns if turn.text.strip()]
    assert kept == spoken[len(spoken) - len(kept) :]
    assert sum(len(turn.text) for turn in kept) <= max_chars
    if len(kept) < len(spoken):
        older = spoken[len(spoken) - len(kept) - 1]
        assert sum(len(turn.text) for turn in kept) + len(older.text) > max_chars


def test_messages_alternate_and_start_with_the_customer_for_strict_chat_templates():
    transcript = [
        Turn("bot", "Welcome!"),
        Turn("customer", "hi"),
        Turn("customer", "are you there?"),
        Turn("bot", "Sorry, I didn't get that."),
        Turn("system", "A person will reply."),
    ]

    messages = chat_messages(system_prompt="P", transcript=transcript, text="", context_chars=999)

    assert messages == [
        {"role": "system", "content": "P"},
        {"role": "user", "content": "hi\n\nare you there?"},
        {"role": "assistant", "content": "Sorry, I didn't get that.\n\nA person will reply."},
        {"role": "user", "content": NO_TEXT},
    ]


def test_knowledge_lists_each_entry_once_with_all_its_phrasings():
    text = knowledge_text(
        [(["Hours?", " 営業時間 "], "9-18"), (["Blank answer?"], "  "), ([], "x")]
    )

    assert text.endswith("Q: Hours? / 営業時間\nA: 9-18")
    assert "Blank answer" not in text
    assert knowledge_text([]) == ""


def completion(message: dict) -> dict:
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def tool_call(name: str, arguments) -> dict:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('{"reason": "angry customer"}', "angry customer"),
        ({"reason": "angry customer"}, "angry customer"),  # some Ollama versions
        ("angry customer", "angry customer"),  # not JSON: still a wish for a person
        ("{}", UNSTATED_REASON),
        ('{"reason": "  "}', UNSTATED_REASON),
        (None, UNSTATED_REASON),
    ],
)
def test_a_handoff_call_is_honoured_whatever_the_shape_of_its_arguments(arguments, reason):
    answer = parse_completion(
        completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call(HANDOFF_TOOL, arguments)],
            }
        )
    )

    assert answer.handoff is True
    assert answer.handoff_reason == reason


def test_text_in_parts_is_joined_and_an_overlong_answer_is_cut_to_whatsapps_limit():
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    assert parse_completion(completion({"role": "assistant", "content": parts})).text == (
        "Hello there"
    )
    long = parse_completion(completion({"role": "assistant", "content": "x" * 5000})).text
    assert len(long) == MAX_MESSAGE_CHARS
    assert long.endswith("…")


def test_an_empty_answer_is_a_miss_not_an_error():
    answer = parse_completion(completion({"role": "assistant", "content": ""}))
    assert not answer.has_answer
    assert not answer.handoff


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"choices": []},
        {"choices": [{"message": "hi"}]},
        {"choices": [{"message": {"content": 42}}]},
        [],
        {"choices": [{"message": {"content": None, "tool_calls": [tool_call("lookup", "{}")]}}]},
    ],
)
def test_an_answer_that_is_not_a_usable_completion_is_a_bot_error(data):
    with pytest.raises(BotError):
        parse_completion(data)


def test_a_bot_without_base_url_or_model_fails_with_a_clear_error(settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = MODEL

    with pytest.raises(BotError, match="OPENAI_BASE_URL"):
        OpenAIBot().answer(None)


# --- The stand-in model server, driven by hand over HTTP -------------------------------


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False  # loopback must never go through a proxy from the environment
        yield session


def ask(http, url: str, **overrides):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **overrides}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return http.post(url + "/chat/completions", json=body, headers=headers, timeout=5)


def test_the_standin_is_switched_over_http_and_returns_to_text_after_count(model_server, http):
    control = model_server.url.removesuffix("/v1") + "/_standin/behaviour"
    switched = http.post(control, json={"mode": "error500", "count": 1}, timeout=5)
    assert switched.json()["mode"] == "error500"

    assert ask(http, model_server.url).status_code == 500
    second = ask(http, model_server.url)
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "(stand-in model) You wrote: hi"
    assert http.post(control, json={"mode": "sulk"}, timeout=5).status_code == 400
    assert http.post(control, data="mode=slow", timeout=5).status_code == 415


def test_the_standin_refuses_what_a_real_server_refuses(model_server, http):
    assert ask(http, model_server.url, model="").status_code == 400
    assert ask(http, model_server.url, messages=[]).status_code == 400
    assert ask(http, model_server.url.removesuffix("/v1")).status_code == 404
    wrong_key = http.post(
        model_server.url + "/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer nope"},
        timeout=5,
    )
    assert wrong_key.status_code == 401
    model_server.set_behaviour("handoff")
    assert ask(http, model_server.url).status_code == 400, "a hand-over without tools offered"
    assert [r["status"] for r in model_server.requests()] == [400, 400, 404, 401, 400]


# --- End to end: daphne with HANDOFF_BOT=openai ---------------------------------------


@pytest.fixture(scope="module")
def openai_app(app_server, session_braze):
    """The app under daphne answering with the LLM bot (in place of the session's FAQ
    server, whose workers would otherwise route our messages with the FAQ bot)."""
    from django.db import connection as db

    app_server.stop()
    with OpenAIStandin(api_key=API_KEY) as model:
        env = server_env(
            db.settings_dict,
            session_braze.url,
            HANDOFF_BOT="openai",
            OPENAI_BASE_URL=model.url,
            OPENAI_API_KEY=API_KEY,
            OPENAI_MODEL=MODEL,
            OPENAI_TIMEOUT_SECONDS="10",
        )
        server = AppServer(env, ARTIFACTS / "daphne-openai.log").start()
        try:
            yield server, model
        finally:
            server.stop()
    app_server.start()


@pytest.fixture
def openai_live(openai_app, session_braze, transactional_db):
    server, model = openai_app
    session_braze.set_behaviour("ok")
    session_braze.clear()
    model.set_behaviour("text")
    model.clear()
    yield server, model
    time.sleep(0.2)  # let the server's workers finish before the flush


def sent_texts(braze, user_id: str) -> list[str]:
    return [
        m["trigger_properties"]["external_system_msg_body"]
        for m in braze.sent_messages()
        if m["external_user_id"] == user_id
    ]


def test_the_models_answer_reaches_the_customer_through_braze(openai_live, session_braze):
    server, model = openai_live
    model.set_behaviour("text", text="Your parcel left on Monday.")

    server.post_webhook(webhook_body("u-llm", "Where is my parcel?"))

    wait_until(
        lambda: sent_texts(session_braze, "u-llm") == ["Your parcel left on Monday."],
        message=f"Braze got {session_braze.sent_messages()}",
    )
    assert Conversation.objects.get().state == Conversation.State.BOT


def test_an_agent_taking_over_while_the_model_thinks_means_the_customer_never_gets_its_answer(
    openai_live, session_braze, agents_group
):
    server, model = openai_live
    agent = get_user_model().objects.create_user("ren", password="x")
    agent.groups.add(agents_group)
    model.set_behaviour("slow", seconds=1.5, text="THE BOT'S LATE ANSWER")

    response = server.post_webhook(webhook_body("u-race", "Where is my parcel?"))
    model.wait_for_requests(1, timeout=10)
    conversations.take_over(conversation_id=response.json()["conversation_id"], agent=agent)

    dropped = wait_until(
        lambda: ConversationEvent.objects.filter(kind="bot_reply_dropped").first(),
        message="the bot's answer was neither dropped nor recorded",
    )
    assert dropped.data["text"] == "THE BOT'S LATE ANSWER"
    assert dropped.data["state"] == Conversation.State.ASSIGNED
    time.sleep(1.0)  # delivery polls every 0.2 s: anything queued would be sent by now
    assert session_braze.sent_messages() == []
    assert not Msg.objects.filter(direction="out").exists()
    assert Conversation.objects.get().state == Conversation.State.ASSIGNED


def test_admins_edit_the_one_row_of_bot_settings(admin_client):
    listing = admin_client.get("/admin/handoff/botsettings/")
    assert listing.status_code == 302
    assert listing["Location"] == "/admin/handoff/botsettings/1/change/"

    response = admin_client.post(
        listing["Location"],
        {"system_prompt": "Be brief. Call handoff_to_agent when unsure."},
    )

    assert response.status_code == 302
    bot_settings = BotSettings.load()
    assert bot_settings.system_prompt == "Be brief. Call handoff_to_agent when unsure."
    assert bot_settings.use_faq_as_knowledge is False  # an unticked box
    assert BotSettings.objects.count() == 1
