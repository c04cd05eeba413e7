"""Hand-overs outside opening hours: the customer is told when a person can answer.

Service tests run `escalate` on a fixed clock (no wall-clock: each names its moment);
the admin's forms refuse what the rules cannot use; and one hand-over goes through the
running server to the stand-in Braze, with a schedule that is closed whatever today is.
"""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff.models import (
    ClosedDate,
    Conversation,
    ConversationEvent,
    EscalationRule,
    FaqEntry,
    HandoffSettings,
    Message,
    OpeningInterval,
    Schedule,
)
from handoff.rules.business_hours import holiday_names
from handoff.rules.opening_text import DEFAULT_TEXT
from handoff.services.conversations import escalate
from tests.conftest import wait_until
from tests.support.factories import customer_wrote, webhook_body
from tests.support.texts import handover_text

TOKYO = ZoneInfo("Asia/Tokyo")
Kind = ConversationEvent.Kind


def tokyo_office(**fields) -> Schedule:
    """Weekdays 9:00-18:00 in Tokyo, closed on Japan's public holidays; the settings'
    schedule, so every hand-over follows it."""
    schedule = Schedule.objects.create(
        name="Tokyo office", time_zone="Asia/Tokyo", holiday_country="JP", **fields
    )
    for weekday in range(5):
        OpeningInterval.objects.create(schedule=schedule, weekday=weekday, opens=540, closes=1080)
    settings_row = HandoffSettings.load()
    settings_row.schedule = schedule
    settings_row.save()
    return schedule


def hand_over(moment: datetime, *, extra: dict | None = None) -> Conversation:
    conversation = customer_wrote("agent please", **(extra or {}))
    return escalate(conversation_id=conversation.pk, kind="keyword", detail="agent", now=moment)


def told(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(
            conversation=conversation, author_kind=Message.AuthorKind.SYSTEM
        ).values_list("text", flat=True)
    )


def escalation_data(conversation: Conversation) -> dict:
    return ConversationEvent.objects.get(conversation=conversation, kind=Kind.ESCALATED).data


# --- The service, on a fixed clock ---------------------------------------------------


@pytest.mark.django_db
def test_a_handover_on_a_saturday_sends_the_offline_text_naming_monday_morning():
    tokyo_office()

    conversation = hand_over(datetime(2027, 1, 16, 15, 0, tzinfo=TOKYO))

    assert told(conversation) == [DEFAULT_TEXT["en"].replace("{opening}", "Monday 9:00")]
    assert conversation.state == Conversation.State.WAITING
    assert escalation_data(conversation) == {
        "reason": "keyword:agent",
        "detail": "agent",
        "outside_hours": True,
        "opens_at": "2027-01-18T00:00:00+00:00",  # 9:00 in Tokyo
    }


@pytest.mark.django_db
def test_a_handover_on_a_japanese_public_holiday_names_the_next_working_day_in_japanese():
    tokyo_office()

    # Monday 11 January 2027 is Coming of Age Day; the customer's Braze profile says ja.
    conversation = hand_over(datetime(2027, 1, 11, 10, 0, tzinfo=TOKYO), extra={"language": "ja"})

    [text] = told(conversation)
    assert text.startswith("ただいま営業時間外です。次の営業開始は1月12日（火）9:00です。")
    assert escalation_data(conversation)["opens_at"] == "2027-01-12T00:00:00+00:00"


@pytest.mark.django_db
def test_a_handover_on_a_weekday_in_hours_sends_the_usual_handover_text():
    tokyo_office()

    conversation = hand_over(datetime(2027, 1, 12, 10, 0, tzinfo=TOKYO))

    assert told(conversation) == [handover_text()]
    assert "outside_hours" not in escalation_data(conversation)


@pytest.mark.django_db
def test_a_closed_date_counts_and_the_admins_own_text_is_used(settings):
    schedule = tokyo_office(offline_text="Office closed. Back {opening}.")
    ClosedDate.objects.create(schedule=schedule, date=date(2027, 1, 12), label="Office move")
    settings.LANGUAGE_CODE = "ja"  # the customer's own language is not known

    conversation = hand_over(datetime(2027, 1, 12, 10, 0, tzinfo=TOKYO))

    assert told(conversation) == ["Office closed. Back 1月13日（水）9:00."]


@pytest.mark.django_db
def test_a_customer_in_another_time_zone_is_told_which_zones_time_it_is():
    tokyo_office(offline_text="Back {opening}.")

    conversation = hand_over(
        datetime(2027, 1, 16, 15, 0, tzinfo=TOKYO),
        extra={"language": "en-GB", "time_zone": "Europe/London"},
    )

    assert told(conversation) == ["Back Monday 9:00 (Asia/Tokyo time)."]


@pytest.mark.django_db
def test_without_a_schedule_every_handover_sends_the_handover_text():
    conversation = hand_over(datetime(2027, 1, 16, 15, 0, tzinfo=TOKYO))

    assert told(conversation) == [handover_text()]


# --- Admin -----------------------------------------------------------------------------


@pytest.fixture
def admin_client(db, client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-123456789"))
    return client


def schedule_form(intervals=(), closed=(), **fields) -> dict:
    data = {
        "name": "Tokyo office",
        "time_zone": "Asia/Tokyo",
        "holiday_country": "jp",
        "holiday_subdiv": "",
        "offline_text": "",
        "intervals-TOTAL_FORMS": str(len(intervals)),
        "intervals-INITIAL_FORMS": "0",
        "closed_dates-TOTAL_FORMS": str(len(closed)),
        "closed_dates-INITIAL_FORMS": "0",
        **fields,
    }
    for n, (weekday, opens, closes) in enumerate(intervals):
        data |= {
            f"intervals-{n}-weekday": str(weekday),
            f"intervals-{n}-opens": opens,
            f"intervals-{n}-closes": closes,
        }
    for n, (day, label) in enumerate(closed):
        data |= {f"closed_dates-{n}-date": day, f"closed_dates-{n}-label": label}
    return data


def test_admin_saves_a_schedule_with_a_lunch_break_a_midnight_close_and_a_closed_date(
    admin_client,
):
    move = (timezone.now() + timedelta(days=30)).date()
    response = admin_client.post(
        "/admin/handoff/schedule/add/",
        schedule_form(
            intervals=[(0, "9:00", "12:00"), (0, "13:00", "24:00")],
            closed=[(move.isoformat(), "Office move")],
        ),
    )

    assert response.status_code == 302, response.context["errors"]
    schedule = Schedule.objects.get()
    assert schedule.holiday_country == "JP"
    assert list(schedule.intervals.values_list("weekday", "opens", "closes")) == [
        (0, 540, 720),
        (0, 780, 1440),
    ]
    page = admin_client.get(f"/admin/handoff/schedule/{schedule.pk}/change/").content.decode()
    assert "24:00" in page
    # The next closed days: the company's date among Japan's public holidays.
    assert "Office move" in page and "Next closed days" in page


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (schedule_form(time_zone="Tokyo"), "Tokyo"),
        (schedule_form(holiday_country="XX"), "two-letter"),
        (schedule_form(holiday_country="DE", holiday_subdiv="ZZ"), "not a subdivision"),
        (schedule_form(offline_text="Back {opennig}"), "{opennig}"),
        (schedule_form(intervals=[(1, "9:00", "25:00")]), "not a time of day"),
        (schedule_form(intervals=[(1, "18:00", "9:00")]), "after the opening time"),
        (schedule_form(intervals=[(2, "9:00", "13:00"), (2, "12:00", "18:00")]), "overlap"),
    ],
)
def test_admin_refuses_a_schedule_the_rules_cannot_use_and_says_why(admin_client, form, error):
    response = admin_client.post("/admin/handoff/schedule/add/", form)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Schedule.objects.exists()


def test_the_settings_page_offers_the_schedule(admin_client):
    Schedule.objects.create(name="Tokyo office", time_zone="Asia/Tokyo")

    page = admin_client.get(f"/admin/handoff/handoffsettings/{HandoffSettings.load().pk}/change/")

    assert "Tokyo office" in page.content.decode()


# --- Through the running server ----------------------------------------------------------


@pytest.mark.server
def test_a_handover_outside_hours_through_the_server_tells_the_customer_at_braze(
    live, session_braze
):
    """The server's clock cannot be set, so the schedule is closed whatever today is: it
    opens only on the weekday three days from now (UTC), which is also not tomorrow's
    (should midnight pass during the test, the opening named is the same)."""
    now = timezone.now()
    opening_day = (now + timedelta(days=3)).date()
    schedule = Schedule.objects.create(name="Rarely open", time_zone="UTC")
    OpeningInterval.objects.create(
        schedule=schedule, weekday=opening_day.weekday(), opens=540, closes=1020
    )
    settings_row = HandoffSettings.load()
    settings_row.schedule = schedule
    settings_row.save()
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    weekday = "月火水木金土日"[opening_day.weekday()]
    expected = DEFAULT_TEXT["ja"].replace(
        "{opening}", f"{opening_day.month}月{opening_day.day}日（{weekday}）9:00"
    )

    FaqEntry.objects.create(questions="Where is my parcel?", answer="Track it on our site.")

    def sent():
        return [
            m["trigger_properties"]["external_system_msg_body"]
            for m in session_braze.sent_messages()
            if m["external_user_id"] == "u-closed"
        ]

    # The bot answers at any hour; only the hand-over changes.
    live.post_webhook(webhook_body("u-closed", "where is my parcel", language="ja"))
    wait_until(lambda: sent() == ["Track it on our site."], timeout=30, message=f"{sent()}")
    live.post_webhook(webhook_body("u-closed", "agent please", language="ja"))
    wait_until(
        lambda: sent() == ["Track it on our site.", expected], timeout=30, message=f"{sent()}"
    )
    conversation = Conversation.objects.get()
    assert conversation.state == Conversation.State.WAITING
    data = escalation_data(conversation)
    assert data["outside_hours"] is True
    assert datetime.fromisoformat(data["opens_at"]) == datetime.combine(
        opening_day, datetime.min.time().replace(hour=9), tzinfo=UTC
    )


def test_the_schedule_page_renders_in_japanese_with_holiday_names_in_japanese(admin_client):
    schedule = Schedule.objects.create(name="東京", time_zone="Asia/Tokyo", holiday_country="JP")

    page = admin_client.get(
        f"/admin/handoff/schedule/{schedule.pk}/change/", HTTP_ACCEPT_LANGUAGE="ja"
    )

    assert page.status_code == 200
    assert '<html lang="ja"' in page.content.decode()
    # Japan's tables name their holidays in Japanese (元日, 成人の日, ...).
    today = timezone.now().astimezone(TOKYO).date()
    [(_day, name)] = holiday_names("JP", "", today, 1, language="ja")
    assert name in page.content.decode()
    assert re.search("[\u3040-\u30ff\u4e00-\u9fff]", name)


@pytest.mark.django_db
def test_a_schedule_broken_behind_admins_back_does_not_stop_the_handover(caplog):
    schedule = tokyo_office()
    Schedule.objects.filter(pk=schedule.pk).update(holiday_country="XX")

    conversation = hand_over(datetime(2027, 1, 16, 15, 0, tzinfo=TOKYO))

    assert conversation.state == Conversation.State.WAITING
    assert told(conversation) == [handover_text()]
    assert "Tokyo office" in caplog.text
