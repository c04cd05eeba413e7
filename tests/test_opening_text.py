"""What a customer handed over outside opening hours reads (handoff/rules/opening_text.py):
the next opening in their language, in the schedule's local time, the zone named only
when they are known to live in another."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handoff.rules.opening_text import (
    customer_language,
    format_opening,
    offline_text,
    offline_text_problem,
)

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY = datetime(2027, 1, 9, 15, 0, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("opening", "english", "japanese"),
    [
        (datetime(2027, 1, 9, 17, 0, tzinfo=TOKYO), "today 17:00", "1月9日（土）17:00"),
        (datetime(2027, 1, 10, 9, 0, tzinfo=TOKYO), "tomorrow 9:00", "1月10日（日）9:00"),
        (datetime(2027, 1, 12, 9, 0, tzinfo=TOKYO), "Tuesday 9:00", "1月12日（火）9:00"),
        (datetime(2027, 1, 15, 13, 30, tzinfo=TOKYO), "Friday 13:30", "1月15日（金）13:30"),
        (datetime(2027, 1, 18, 9, 0, tzinfo=TOKYO), "Monday 18 January 9:00", "1月18日（月）9:00"),
    ],
)
def test_the_opening_is_written_as_people_say_it_in_each_language(opening, english, japanese):
    assert format_opening(opening, now=SATURDAY, zone=TOKYO, language="en") == english
    assert format_opening(opening, now=SATURDAY, zone=TOKYO, language="ja") == japanese


def test_the_opening_is_given_in_the_schedules_local_time():
    utc_opening = datetime(2027, 1, 12, 0, 0, tzinfo=ZoneInfo("UTC"))  # 9:00 in Tokyo

    assert format_opening(utc_opening, now=SATURDAY, zone=TOKYO, language="en") == "Tuesday 9:00"


def test_the_built_in_text_names_the_opening_in_english_and_japanese():
    opening = datetime(2027, 1, 12, 9, 0, tzinfo=TOKYO)
    common = {"template": "", "opening": opening, "now": SATURDAY, "zone": TOKYO}

    assert offline_text(**common, language="en").startswith(
        "We are closed now and open again Tuesday 9:00."
    )
    assert offline_text(**common, language="ja").startswith(
        "ただいま営業時間外です。次の営業開始は1月12日（火）9:00です。"
    )


def test_an_admins_text_is_used_as_written_with_the_opening_filled_in():
    opening = datetime(2027, 1, 12, 9, 0, tzinfo=TOKYO)

    text = offline_text(
        template="Closed! Back {opening} {not a placeholder}",
        opening=opening,
        now=SATURDAY,
        zone=TOKYO,
        language="ja",
    )

    assert text == "Closed! Back 1月12日（火）9:00 {not a placeholder}"


def test_the_zone_is_named_only_for_a_customer_known_to_keep_other_hours():
    opening = datetime(2027, 1, 12, 9, 0, tzinfo=BERLIN)
    common = {"template": "{opening}", "opening": opening, "now": SATURDAY, "zone": BERLIN}

    assert offline_text(**common, language="en") == "Tuesday 9:00"
    assert offline_text(**common, language="en", customer_zone=BERLIN) == "Tuesday 9:00"
    # Paris keeps Berlin's hours: nothing to explain.
    assert offline_text(**common, language="en", customer_zone=ZoneInfo("Europe/Paris")) == (
        "Tuesday 9:00"
    )
    assert offline_text(**common, language="en", customer_zone=TOKYO) == (
        "Tuesday 9:00 (Europe/Berlin time)"
    )
    assert offline_text(**common, language="ja", customer_zone=TOKYO) == (
        "1月12日（火）9:00（Europe/Berlin時間）"
    )


def test_with_no_opening_in_sight_the_text_promises_no_time():
    common = {"opening": None, "now": SATURDAY, "zone": TOKYO}

    assert "open again" not in offline_text(template="", language="en", **common)
    assert offline_text(template="Back {opening}", language="ja", **common).startswith(
        "ただいま営業時間外です。"
    )
    assert offline_text(template="We are on holiday.", language="en", **common) == (
        "We are on holiday."
    )


@pytest.mark.parametrize(
    ("candidate", "fallback", "chosen"),
    [
        ("ja", "en", "ja"),
        ("ja-JP", "en", "ja"),
        ("JA_jp", "en", "ja"),
        ("", "ja", "ja"),
        ("fr", "ja", "ja"),
        ("fr", "de", "en"),
        ("en-GB", "ja", "en"),
    ],
)
def test_the_customers_language_is_used_when_there_is_text_for_it(candidate, fallback, chosen):
    assert customer_language(candidate, fallback) == chosen


def test_a_placeholder_other_than_opening_is_refused_in_an_admins_text():
    assert offline_text_problem("Back {opening}.") is None
    assert offline_text_problem("No placeholder at all.") is None
    assert "{opennig}" in offline_text_problem("Back {opennig}.")
