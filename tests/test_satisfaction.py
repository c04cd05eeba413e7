"""Satisfaction answers: a score after the survey is recorded on the resolved conversation.

Reading a score is tested exhaustively in-process; the flow runs through the webhook,
both in-process and against the app under daphne with the stand-in Braze.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from handoff.models import Conversation, ConversationEvent, EscalationRule, Message, ProfileUpdate
from handoff.rules.payloads import InboundPayload
from handoff.rules.survey_score import parse_score
from handoff.services.inbound import accept_inbound
from tests.conftest import wait_until
from tests.support.agents import make_agent
from tests.support.factories import make_conversation, webhook_body

State = Conversation.State


# -- reading a score -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4", 4),
        (" 5 ", 5),
        ("1", 1),
        ("４", 4),  # full-width, as Japanese keyboards type it
        ("4/5", 4),
        ("４／５", 4),
        ("3 / 5", 3),
        ("4 out of 5", 4),
        ("2 of 5", 2),
        ("4 stars", 4),
        ("1 star", 1),
        ("Five stars!", 5),
        ("4⭐", 4),
        ("⭐⭐⭐⭐", 4),
        ("⭐️⭐️⭐️", 3),  # with emoji presentation selectors
        ("★★★★★", 5),
        ("★★★☆☆", 3),
        ("⭐ ⭐", 2),
        ("4点", 4),
        ("5.", 5),
        ("4️⃣", 4),
    ],
)
def test_a_score_is_read_from_the_ways_customers_write_it(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "6",
        "10",
        "45",
        "4.5",
        "4 5",
        "yes",
        "thanks",
        "2 more questions",
        "I'd give it a 4",
        "5 stars but the parcel is still missing",
        "order 4",
        "4/10",
        "☆☆☆",
        "⭐⭐⭐⭐⭐⭐",
        "one",
    ],
)
def test_ordinary_text_is_never_read_as_a_score(text):
    assert parse_score(text) is None


# -- the flow, in-process ----------------------------------------------------------------


def inbound(text: str, user_id: str):
    return accept_inbound(InboundPayload(user_id=user_id, phone_number="+8190", message=text))


def surveyed(user_id: str, *, ago: timedelta = timedelta(minutes=5), **fields) -> Conversation:
    now = timezone.now()
    return make_conversation(
        external_id=user_id,
        state=State.RESOLVED,
        resolved_at=now - ago,
        survey_sent_at=now - ago,
        **fields,
    )


@pytest.mark.django_db
def test_a_score_after_the_survey_is_recorded_on_the_resolved_conversation():
    conversation = surveyed("sat-1")

    accepted = inbound("4/5", "sat-1")

    assert accepted.conversation_id == conversation.pk
    assert Conversation.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.state == State.RESOLVED
    assert conversation.satisfaction_score == 4
    assert conversation.satisfaction_at is not None
    message = Message.objects.get(pk=accepted.message_id)
    assert message.conversation_id == conversation.pk
    assert message.routing_state == Message.Routing.DONE  # the bot never sees it
    event = ConversationEvent.objects.get(kind=ConversationEvent.Kind.SATISFACTION)
    assert event.data == {"score": 4, "message_id": message.pk}
    [update] = ProfileUpdate.objects.all()
    assert update.attributes == {"handoff_last_satisfaction_score": 4}


@pytest.mark.django_db
def test_ordinary_text_after_the_survey_starts_a_new_conversation():
    conversation = surveyed("sat-2")

    accepted = inbound("Where is my parcel?", "sat-2")

    assert accepted.conversation_id != conversation.pk
    new = Conversation.objects.get(pk=accepted.conversation_id)
    assert new.state == State.BOT
    assert Message.objects.get(pk=accepted.message_id).routing_state == Message.Routing.PENDING
    conversation.refresh_from_db()
    assert conversation.satisfaction_score is None


@pytest.mark.django_db
def test_a_score_without_a_survey_is_ordinary_text():
    make_conversation(external_id="sat-3", state=State.RESOLVED, resolved_at=timezone.now())

    accepted = inbound("5", "sat-3")

    assert Conversation.objects.get(pk=accepted.conversation_id).state == State.BOT
    assert not Conversation.objects.filter(satisfaction_score__isnull=False).exists()


@pytest.mark.django_db
def test_a_score_more_than_a_day_after_the_survey_is_ordinary_text():
    surveyed("sat-4", ago=timedelta(hours=24, minutes=1))

    accepted = inbound("5", "sat-4")

    assert Conversation.objects.get(pk=accepted.conversation_id).state == State.BOT
    assert not Conversation.objects.filter(satisfaction_score__isnull=False).exists()


@pytest.mark.django_db
def test_only_the_first_score_counts():
    conversation = surveyed("sat-5")

    inbound("5", "sat-5")
    second = inbound("1", "sat-5")

    conversation.refresh_from_db()
    assert conversation.satisfaction_score == 5
    assert second.conversation_id != conversation.pk
    assert ConversationEvent.objects.filter(kind=ConversationEvent.Kind.SATISFACTION).count() == 1


@pytest.mark.django_db
def test_a_score_while_a_conversation_is_open_goes_to_that_conversation():
    resolved = surveyed("sat-6")
    open_one = Conversation.objects.create(contact=resolved.contact, state=State.WAITING)

    accepted = inbound("4", "sat-6")

    assert accepted.conversation_id == open_one.pk
    resolved.refresh_from_db()
    assert resolved.satisfaction_score is None


@pytest.mark.django_db
def test_a_repeat_of_the_answer_from_braze_is_a_duplicate_not_a_new_conversation():
    surveyed("sat-7")
    payload = InboundPayload(user_id="sat-7", phone_number="+8190", message="4", message_id="d-1")

    first = accept_inbound(payload)
    again = accept_inbound(payload)

    assert again.duplicate is True
    assert again.message_id == first.message_id
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_no_profile_update_is_queued_when_profile_sync_is_off(settings):
    settings.BRAZE_PROFILE_SYNC = False
    conversation = surveyed("sat-8")

    inbound("3", "sat-8")

    conversation.refresh_from_db()
    assert conversation.satisfaction_score == 3
    assert not ProfileUpdate.objects.exists()


@pytest.mark.django_db
def test_agents_see_the_score_on_the_conversation(agents_group):
    make_agent("aiko")
    api = Client()
    api.force_login(get_user_model().objects.get(username="aiko"))
    conversation = surveyed("sat-9")
    inbound("⭐⭐⭐⭐⭐", "sat-9")

    pane = api.get(f"/api/conversations/{conversation.pk}/").json()

    assert pane["conversation"]["satisfaction_score"] == 5
    assert any(event["kind"] == "satisfaction" for event in pane["events"])


# -- the flow against the app under daphne -----------------------------------------------


@pytest.mark.server
def test_a_score_reply_is_recorded_unanswered_and_reaches_the_braze_profile(live, session_braze):
    EscalationRule.objects.all().delete()
    conversation = surveyed("sat-live")

    response = live.post_webhook(webhook_body("sat-live", "４", message_id="survey-answer-1"))

    assert response.status_code == 200
    assert response.json()["conversation_id"] == conversation.pk
    profiles = wait_until(
        lambda: session_braze.profiles().get("sat-live"),
        message="the score never reached the Braze profile",
    )
    assert profiles == {"handoff_last_satisfaction_score": 4}
    # An ordinary message written after it is answered: the bot was not just slow.
    live.post_webhook(webhook_body("sat-live", "hello?"))
    wait_until(lambda: session_braze.sent_messages(), message="the bot never answered at all")
    assert len(session_braze.sent_messages()) == 1, "the score itself got an answer"
    assert Conversation.objects.count() == 2
    conversation.refresh_from_db()
    assert conversation.satisfaction_score == 4
