"""Texts customers get from handoff itself, in their language (issue 17, point 4):
Braze's `language`, else the script they write in, else the site's default; one row
per text and language in admin, a new language without code."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from handoff.models import (
    BrazeCampaign,
    ClosedDate,
    Conversation,
    CustomerText,
    HandoffSettings,
    Message,
    Schedule,
)
from handoff.rules import system_texts
from handoff.services.conversations import escalate, record_bot_miss, resolve
from tests.support.factories import customer_wrote
from tests.support.texts import handover_text

Key = CustomerText.Key
NOW = datetime(2027, 1, 13, 3, 0, tzinfo=UTC)  # a Wednesday, no schedule: always open


def sent(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(
            conversation=conversation, direction=Message.Direction.OUTBOUND
        ).values_list("text", flat=True)
    )


def row(key: str, language: str) -> str:
    return CustomerText.objects.get(key=key, language=language).text


@pytest.mark.django_db
def test_every_text_is_installed_in_english_and_japanese():
    installed = set(CustomerText.objects.values_list("key", "language"))

    assert installed >= {(key, language) for key in Key.values for language in ("en", "ja")}
    assert row(Key.HANDOVER, "ja") == system_texts.DEFAULTS[Key.HANDOVER]["ja"]


@pytest.mark.django_db
def test_a_customer_whose_braze_language_is_japanese_is_handed_over_in_japanese():
    conversation = customer_wrote("agent please", language="ja")

    escalate(conversation_id=conversation.pk, kind="keyword", detail="agent", now=NOW)

    assert sent(conversation) == [handover_text(language="ja")]


@pytest.mark.django_db
def test_a_customer_who_writes_japanese_with_no_language_field_is_answered_in_japanese():
    conversation = customer_wrote("担当者と話したいです")

    escalate(conversation_id=conversation.pk, kind="keyword", detail="担当者", now=NOW)

    assert sent(conversation) == [handover_text(language="ja")]


@pytest.mark.django_db
def test_braze_language_wins_over_the_script_and_latin_script_gets_the_default():
    english_profile = customer_wrote("こんにちは", language="en")
    latin = customer_wrote("hola, necesito ayuda")

    for conversation in (english_profile, latin):
        escalate(conversation_id=conversation.pk, kind="keyword", detail="x", now=NOW)

    assert sent(english_profile) == [handover_text()]
    assert sent(latin) == [handover_text(position=2)]  # behind the first


@pytest.mark.django_db
def test_a_language_added_in_admin_reaches_its_customers_and_falls_back_per_text():
    CustomerText.objects.create(
        key=Key.HANDOVER, language="pt-br", text="Obrigado! Um atendente vai responder aqui."
    )
    conversation = customer_wrote("quero falar com um atendente", language="pt-BR")
    HandoffSettings.objects.filter(pk=1).update(bot_miss_limit=5)

    record_bot_miss(conversation_id=conversation.pk)  # no Portuguese apology: the site's
    escalate(conversation_id=conversation.pk, kind="keyword", detail="x", now=NOW)

    assert sent(conversation) == [
        row(Key.BOT_MISS, "en"),
        "Obrigado! Um atendente vai responder aqui.",
    ]


@pytest.mark.django_db
def test_outside_opening_hours_the_languages_own_offline_text_names_the_opening():
    CustomerText.objects.filter(key=Key.OFFLINE, language="ja").update(
        text="本日は休業日です。{opening}に再開します。"
    )
    schedule = Schedule.objects.create(name="Tokyo", time_zone="Asia/Tokyo")
    ClosedDate.objects.create(schedule=schedule, date=date(2027, 1, 13))
    HandoffSettings.objects.filter(pk=1).update(schedule=schedule)
    conversation = customer_wrote("担当者お願いします")

    escalate(conversation_id=conversation.pk, kind="keyword", detail="担当者", now=NOW)

    assert sent(conversation) == ["本日は休業日です。1月14日（木）0:00に再開します。"]


@pytest.mark.django_db
def test_an_empty_hand_over_text_in_a_language_sends_nothing_to_its_customers():
    CustomerText.objects.filter(key=Key.HANDOVER, language="ja").update(text="")
    conversation = customer_wrote("担当者", language="ja")

    escalate(conversation_id=conversation.pk, kind="keyword", detail="担当者", now=NOW)

    assert sent(conversation) == []
    assert Conversation.objects.get(pk=conversation.pk).state == Conversation.State.WAITING


@pytest.mark.django_db
def test_the_resolved_text_and_the_survey_question_go_out_in_the_customers_language():
    survey = BrazeCampaign.objects.create(
        name="Satisfaction",
        key="survey",
        campaign_id="tmpl-survey",
        kind="template",
        is_survey=True,
        property_names="external_system_msg_body",
    )
    HandoffSettings.objects.filter(pk=1).update(survey_campaign=survey)
    agent = get_user_model().objects.create_user("aiko")
    conversation = customer_wrote("ありがとう")
    Conversation.objects.filter(pk=conversation.pk).update(
        state=Conversation.State.ASSIGNED, assignee=agent
    )

    resolve(conversation_id=conversation.pk, agent=agent)

    resolved, question = Message.objects.filter(
        conversation=conversation, direction=Message.Direction.OUTBOUND
    ).order_by("pk")
    assert resolved.text == row(Key.RESOLVED, "ja")
    assert question.campaign_properties == {
        "external_system_msg_body": row(Key.SURVEY_PROMPT, "ja")
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "text", "problem"),
    [
        (Key.OFFLINE, "Back {opennig}.", "{opennig}"),
        (Key.HANDOVER, "Hi {name}!", "{name}"),
        (Key.BOT_MISS, "  ", "cannot be empty"),
    ],
)
def test_admin_refuses_a_text_customers_would_get_wrong(key, text, problem):
    candidate = CustomerText(key=key, language="en-GB", text=text)

    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()

    assert problem in str(refused.value)


@pytest.mark.django_db
def test_admin_files_a_language_code_in_one_spelling_and_refuses_a_name():
    spelled = CustomerText(key=Key.HANDOVER, language=" PT_br ", text="Olá")
    spelled.full_clean()
    named = CustomerText(key=Key.HANDOVER, language="Português", text="Olá")

    with pytest.raises(ValidationError, match="language code"):
        named.full_clean()
    assert spelled.language == "pt-br"


@pytest.mark.django_db
def test_the_customer_texts_page_lists_each_text_with_when_it_is_sent(admin_client):
    page = admin_client.get("/admin/handoff/customertext/")
    text = CustomerText.objects.get(key=Key.OFFLINE, language="ja")
    change = admin_client.get(f"/admin/handoff/customertext/{text.pk}/change/")

    assert page.status_code == 200
    assert change.status_code == 200
    assert "{opening} becomes the next opening" in change.content.decode()
