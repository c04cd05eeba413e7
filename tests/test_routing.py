"""Routing decisions, run in-process: the bot never talks over a person."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from handoff.models import Conversation, ConversationEvent, Message, TopicRoute
from handoff.rules.payloads import InboundPayload
from handoff.services import conversations
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next
from tests.support.bots import ObservingBot, SlowBot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent(agents_group):
    user = get_user_model().objects.create_user("aiko", password="x")
    user.groups.add(agents_group)
    return user


def inbound(text: str, user_id: str = "cust-1") -> int:
    return accept_inbound(
        InboundPayload(user_id=user_id, phone_number="+8190", message=text)
    ).conversation_id


def test_agent_taking_over_during_a_slow_bot_answer_drops_the_answer(settings, agent):
    settings.HANDOFF_BOT = "tests.support.bots.SlowBot"
    SlowBot.started.clear()
    conversation_id = inbound("what is the meaning of life")
    router = threading.Thread(target=lambda: (route_next(), connection.close()))
    router.start()
    assert SlowBot.started.wait(5), "the bot was never asked"

    conversations.take_over(conversation_id=conversation_id, agent=agent)
    router.join(10)

    assert not Message.objects.filter(author_kind="bot").exists()
    dropped = ConversationEvent.objects.get(kind=ConversationEvent.Kind.BOT_REPLY_DROPPED)
    assert dropped.data["text"].startswith("slow answer to")
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.ASSIGNED
    assert conversation.escalation_reason == "agent_takeover"
    assert not Message.objects.filter(routing_state=Message.Routing.PENDING).exists()


def test_bot_asking_for_a_person_escalates_with_bot_handoff(settings):
    settings.HANDOFF_BOT = "tests.support.bots.HandoffBot"
    conversation_id = inbound("I am very unhappy")

    assert route_next() is True

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "bot_handoff"
    assert conversation.escalation_detail == "customer is upset"


def test_a_failing_bot_apologises_then_escalates_with_bot_error(settings):
    settings.HANDOFF_BOT = "tests.support.bots.FailingBot"
    conversation_id = inbound("hello?")
    route_next()
    assert Conversation.objects.get(pk=conversation_id).state == Conversation.State.BOT
    assert Message.objects.filter(author_kind="bot").count() == 1  # the apology

    inbound("hello??")
    route_next()

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.WAITING
    assert conversation.escalation_reason == "bot_error"
    assert "model server unreachable" in conversation.escalation_detail


def test_messages_of_one_customer_are_routed_in_order_one_at_a_time(settings):
    settings.HANDOFF_BOT = "tests.support.bots.SlowBot"
    inbound("first")
    inbound("second")
    first = Message.objects.get(text="first")

    from handoff.services.routing import claim_next_inbound

    claimed = claim_next_inbound()
    assert claimed.pk == first.pk
    assert claim_next_inbound() is None, (
        "the second message was claimed while the first was routing"
    )


def test_two_agents_claiming_at_once_exactly_one_wins(agent, agents_group):
    other = get_user_model().objects.create_user("ben", password="x")
    other.groups.add(agents_group)
    conversation_id = inbound("hi")
    conversations.escalate(conversation_id=conversation_id, kind="keyword", detail="agent")

    conversations.claim(conversation_id=conversation_id, agent=agent)
    with pytest.raises(conversations.ConversationConflict) as lost:
        conversations.claim(conversation_id=conversation_id, agent=other)

    assert "aiko" in lost.value.message
    assert Conversation.objects.get(pk=conversation_id).assignee == agent


@pytest.mark.parametrize("text", ["", "   ", "x" * 4097])
def test_an_agent_reply_must_be_between_one_and_4096_characters(agent, text):
    conversation_id = inbound("hi")

    with pytest.raises(ValueError):
        conversations.send_agent_reply(conversation_id=conversation_id, agent=agent, text=text)

    assert Conversation.objects.get(pk=conversation_id).state == Conversation.State.BOT
    assert not Message.objects.filter(author_kind="agent").exists()


def test_an_agent_reply_in_a_bot_conversation_takes_it_over(agent):
    conversation_id = inbound("hi")

    message = conversations.send_agent_reply(
        conversation_id=conversation_id, agent=agent, text="Hello, I'm Aiko."
    )

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == Conversation.State.ASSIGNED
    assert conversation.assignee == agent
    assert conversation.escalation_reason == "agent_takeover"
    assert message.delivery_state == Message.Delivery.QUEUED


# --- Decide, then apply once ------------------------------------------------------------


@pytest.fixture
def shipping_route(settings):
    """A bot route filing its conversations under "shipping"; no merge window to wait."""
    settings.HANDOFF_TOPIC_MERGE_SECONDS = 0
    settings.HANDOFF_BOT = "tests.support.bots.ObservingBot"
    ObservingBot.seen.clear()
    TopicRoute.objects.create(topic="shipping", destination="bot", queue_label="Shipping")


def inbound_about_shipping(text: str) -> int:
    """A keyword campaign's message in a conversation the bot is already having."""
    inbound("hello")
    route_next()
    ObservingBot.seen.clear()
    return accept_inbound(
        InboundPayload(user_id="cust-1", phone_number="+8190", message=text, topic="shipping")
    ).conversation_id


def bot_replies() -> list[str]:
    return list(
        Message.objects.filter(author_kind="bot").order_by("pk").values_list("text", flat=True)
    )


def filed(conversation_id: int) -> tuple[str, str]:
    conversation = Conversation.objects.get(pk=conversation_id)
    return conversation.topic, conversation.queue_label


def test_while_the_bot_thinks_nothing_is_filed_and_no_transaction_is_held(shipping_route):
    conversation_id = inbound_about_shipping("where is my parcel")

    route_next()

    assert ObservingBot.seen == [{"topic": "", "queue_label": "", "in_transaction": False}]
    assert filed(conversation_id) == ("shipping", "Shipping")
    assert bot_replies() == ["noted: hello", "noted: where is my parcel"]


def test_a_failure_between_filing_and_the_bots_reply_leaves_neither_and_routing_completes_later(
    shipping_route, monkeypatch
):
    conversation_id = inbound_about_shipping("where is my parcel")

    def fail(**kwargs):
        raise RuntimeError("the worker died")

    with monkeypatch.context() as patched:
        patched.setattr(conversations, "queue_bot_reply", fail)
        with pytest.raises(RuntimeError):
            route_next()

    assert filed(conversation_id) == ("", "")
    assert bot_replies() == ["noted: hello"]
    stranded = Message.objects.get(direction="in", text="where is my parcel")
    assert stranded.routing_state == Message.Routing.PENDING
    assert route_next() is False, "routed again while the dead worker's lease still holds"

    Message.objects.filter(pk=stranded.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )  # the lease lapses
    assert route_next() is True

    assert filed(conversation_id) == ("shipping", "Shipping")
    assert bot_replies() == ["noted: hello", "noted: where is my parcel"]
    assert not Message.objects.filter(routing_state=Message.Routing.PENDING).exists()
