"""Opening hours as time (handoff/rules/business_hours.py): tables for the cases people
check by hand (a Japanese public holiday, a lunch break, a daylight-saving Sunday in
Berlin) and properties for the rest (what `next_opening` returns is open and never on a
closed day; adding business time and counting it back agree; the answer matches the
wall clock)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.rules.business_hours import (
    MINUTES_A_DAY,
    BusinessHours,
    Interval,
    format_clock,
    holiday_country_problem,
    holiday_names,
    interval_problems,
    parse_clock,
    time_zone_problem,
)

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")

FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def weekdays(*spans: tuple[str, str], days=range(5)) -> tuple[Interval, ...]:
    return tuple(
        Interval(day, parse_clock(opens), parse_clock(closes))
        for day in days
        for opens, closes in spans
    )


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


# Weekdays 9:00-12:00 and 13:00-18:00 in Tokyo, closed on Japan's public holidays.
JAPAN_OFFICE = BusinessHours(
    time_zone="Asia/Tokyo",
    intervals=weekdays(("9:00", "12:00"), ("13:00", "18:00")),
    holiday_country="JP",
)


# --- Tables --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "is_open", "opens"),
    [
        # An ordinary Tuesday: open in the morning, closed for lunch, open again at 13:00.
        (local(TOKYO, 2027, 1, 12, 10, 0), True, local(TOKYO, 2027, 1, 12, 10, 0)),
        (local(TOKYO, 2027, 1, 12, 12, 30), False, local(TOKYO, 2027, 1, 12, 13, 0)),
        (local(TOKYO, 2027, 1, 12, 12, 0), False, local(TOKYO, 2027, 1, 12, 13, 0)),
        (local(TOKYO, 2027, 1, 12, 9, 0), True, local(TOKYO, 2027, 1, 12, 9, 0)),
        # After hours on a Friday: Monday morning.
        (local(TOKYO, 2027, 1, 15, 18, 0), False, local(TOKYO, 2027, 1, 18, 9, 0)),
        # New Year's Day 2027 is a Friday and a public holiday; the weekend follows.
        (local(TOKYO, 2027, 1, 1, 10, 0), False, local(TOKYO, 2027, 1, 4, 9, 0)),
        # Coming of Age Day, Monday 11 January 2027: closed, open on Tuesday.
        (local(TOKYO, 2027, 1, 11, 10, 0), False, local(TOKYO, 2027, 1, 12, 9, 0)),
        # The substitute holiday for the Vernal Equinox (a Sunday): Monday 22 March.
        (local(TOKYO, 2027, 3, 22, 11, 0), False, local(TOKYO, 2027, 3, 23, 9, 0)),
        # Golden Week: 3, 4 and 5 May 2027 are holidays (Monday to Wednesday).
        (local(TOKYO, 2027, 5, 1, 11, 0), False, local(TOKYO, 2027, 5, 6, 9, 0)),
    ],
)
def test_a_tokyo_office_is_open_in_its_hours_and_closed_on_japanese_holidays(at, is_open, opens):
    assert JAPAN_OFFICE.is_open(at) is is_open
    assert JAPAN_OFFICE.next_opening(at) == opens


def test_coming_of_age_day_and_new_year_are_closed_days_in_japan():
    assert JAPAN_OFFICE.is_closed_day(date(2027, 1, 1))
    assert JAPAN_OFFICE.is_closed_day(date(2027, 1, 11))
    assert not JAPAN_OFFICE.is_closed_day(date(2027, 1, 12))


def test_a_closed_date_added_by_the_company_counts_like_a_holiday():
    hours = BusinessHours(
        time_zone="Asia/Tokyo",
        intervals=JAPAN_OFFICE.intervals,
        holiday_country="JP",
        closed_dates=frozenset({date(2027, 1, 12)}),
    )

    assert not hours.is_open(local(TOKYO, 2027, 1, 12, 10, 0))
    assert hours.next_opening(local(TOKYO, 2027, 1, 11, 10, 0)) == local(TOKYO, 2027, 1, 13, 9, 0)


def test_a_schedule_without_intervals_or_closed_days_is_always_open():
    hours = BusinessHours(time_zone="Europe/Berlin")
    at = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)

    assert hours.is_open(at)
    assert hours.next_opening(at) == at
    assert hours.add_business_time(at, 90) == at + timedelta(minutes=90)
    assert hours.business_minutes_between(at, at + timedelta(days=3)) == 3 * MINUTES_A_DAY


def test_a_schedule_without_intervals_is_open_all_day_except_on_closed_days():
    hours = BusinessHours(time_zone="Asia/Tokyo", holiday_country="JP")

    assert hours.is_open(local(TOKYO, 2027, 1, 9, 3, 0))  # a Saturday night
    assert not hours.is_open(local(TOKYO, 2027, 1, 11, 3, 0))
    assert hours.next_opening(local(TOKYO, 2027, 1, 11, 3, 0)) == local(TOKYO, 2027, 1, 12, 0, 0)


def test_closing_at_midnight_runs_into_the_next_days_opening_at_midnight():
    hours = BusinessHours(
        time_zone="Europe/Berlin",
        intervals=(Interval(0, parse_clock("22:00"), parse_clock("24:00")), Interval(1, 0, 120)),
    )
    monday_night = local(BERLIN, 2027, 1, 4, 23, 0)

    assert hours.closes_at(monday_night) == local(BERLIN, 2027, 1, 5, 2, 0)
    assert hours.is_open(local(BERLIN, 2027, 1, 5, 0, 0))
    assert hours.add_business_time(monday_night, 120) == local(BERLIN, 2027, 1, 5, 1, 0)


def test_business_time_skips_the_night_the_weekend_and_lunch():
    friday_evening = local(TOKYO, 2027, 1, 15, 17, 30)

    # 30 minutes on Friday, then 30 on Monday morning.
    assert JAPAN_OFFICE.add_business_time(friday_evening, 60) == local(TOKYO, 2027, 1, 18, 9, 30)
    assert JAPAN_OFFICE.business_minutes_between(
        friday_evening, local(TOKYO, 2027, 1, 18, 9, 30)
    ) == pytest.approx(60)
    # Three hours from 11:00 on Tuesday: one before lunch, two after.
    tuesday = local(TOKYO, 2027, 1, 12, 11, 0)
    assert JAPAN_OFFICE.add_business_time(tuesday, 180) == local(TOKYO, 2027, 1, 12, 15, 0)
    # From a closed instant the count starts at the next opening.
    assert JAPAN_OFFICE.add_business_time(local(TOKYO, 2027, 1, 11, 8, 0), 0) == local(
        TOKYO, 2027, 1, 12, 9, 0
    )


# Europe/Berlin changes to summer time at 02:00 on Sunday 28 March 2027 (the clock jumps
# to 03:00) and back at 03:00 on Sunday 31 October 2027.
SUNDAYS_ALL_DAY = BusinessHours(
    time_zone="Europe/Berlin", intervals=(Interval(6, 0, MINUTES_A_DAY),)
)


def test_the_spring_forward_sunday_in_berlin_has_23_open_hours():
    start = SUNDAYS_ALL_DAY.next_opening(local(BERLIN, 2027, 3, 27, 12, 0))

    assert start == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert SUNDAYS_ALL_DAY.closes_at(start) == datetime(
        2027, 3, 28, 22, 0, tzinfo=UTC
    )  # 24:00 CEST
    assert SUNDAYS_ALL_DAY.business_minutes_between(
        start, start + timedelta(days=2)
    ) == pytest.approx(23 * 60)


def test_the_fall_back_sunday_in_berlin_has_25_open_hours():
    start = SUNDAYS_ALL_DAY.next_opening(local(BERLIN, 2027, 10, 30, 12, 0))

    assert SUNDAYS_ALL_DAY.business_minutes_between(
        start, start + timedelta(days=2)
    ) == pytest.approx(25 * 60)


def test_opening_at_nine_follows_the_wall_clock_across_the_change_to_summer_time():
    hours = BusinessHours(
        time_zone="Europe/Berlin", intervals=weekdays(("9:00", "17:00"), days=range(7))
    )

    assert hours.next_opening(local(BERLIN, 2027, 3, 27, 6, 0)) == datetime(
        2027, 3, 27, 8, 0, tzinfo=UTC
    )
    assert hours.next_opening(local(BERLIN, 2027, 3, 28, 6, 0)) == datetime(
        2027, 3, 28, 7, 0, tzinfo=UTC
    )
    # An interval in the skipped hour (02:00-03:00) has no length that night.
    skipped = BusinessHours(
        time_zone="Europe/Berlin",
        intervals=(Interval(6, parse_clock("2:00"), parse_clock("3:00")),),
    )
    assert skipped.day_spans(date(2027, 3, 28)) == []
    assert skipped.day_spans(date(2027, 4, 4)) != []


def test_a_schedule_that_never_opens_within_the_look_ahead_answers_none():
    start = date(2027, 1, 1)
    every_day = frozenset(start + timedelta(days=n) for n in range(-2, 420))
    hours = BusinessHours(
        time_zone="UTC", intervals=weekdays(("9:00", "17:00")), closed_dates=every_day
    )
    at = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)

    assert hours.next_opening(at) is None
    assert hours.add_business_time(at, 1) is None
    assert not hours.is_open(at)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("9:00", 540), ("09:30", 570), ("0:00", 0), ("24:00", 1440), ("18", 1080), (" 7:05 ", 425)],
)
def test_clock_times_are_read_as_minutes_from_midnight(text, minutes):
    assert parse_clock(text) == minutes
    assert parse_clock(format_clock(minutes)) == minutes


@pytest.mark.parametrize("text", ["", "9.00", "25:00", "24:01", "9:60", "nine", "-1:00"])
def test_a_time_that_is_not_a_time_of_day_is_refused(text):
    with pytest.raises(ValueError):
        parse_clock(text)


def test_intervals_that_end_before_they_start_or_overlap_are_named():
    assert interval_problems(weekdays(("9:00", "12:00"), ("12:00", "18:00"))) == []
    [backwards] = interval_problems([Interval(0, 600, 540)])
    assert "10:00–09:00" in backwards
    [overlap] = interval_problems(
        [Interval(2, 540, 720), Interval(2, 700, 800), Interval(3, 700, 800)]
    )
    assert "09:00–12:00" in overlap and "11:40–13:20" in overlap


def test_time_zones_and_holiday_countries_are_checked_against_what_the_server_knows():
    assert time_zone_problem("Asia/Tokyo") is None
    assert "Tokyo" in time_zone_problem("Tokyo")
    assert holiday_country_problem("JP", "") == {}
    assert holiday_country_problem("DE", "BY") == {}
    assert "holiday_country" in holiday_country_problem("XX", "")
    assert "holiday_subdiv" in holiday_country_problem("DE", "ZZ")
    assert "holiday_subdiv" in holiday_country_problem("", "BY")


def test_holiday_names_list_the_next_public_holidays_for_admins():
    upcoming = holiday_names("JP", "", date(2027, 1, 2), 2)

    assert upcoming == [
        (date(2027, 1, 11), "Coming of Age Day"),
        (date(2027, 2, 11), "Foundation Day"),
    ]
    assert holiday_names("JP", "", date(2027, 1, 2), 1, language="ja") == [
        (date(2027, 1, 11), "成人の日")
    ]


# --- Properties ----------------------------------------------------------------------

ZONES = ["UTC", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


@st.composite
def day_intervals(draw, weekday: int) -> list[Interval]:
    """0-3 intervals on a day that never overlap (they may touch)."""
    cuts = sorted(draw(st.sets(st.integers(0, MINUTES_A_DAY // 15), max_size=6)))
    cuts = [c * 15 for c in cuts]
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return [Interval(weekday, a, b) for a, b in pairs if a < b]


@st.composite
def schedules(draw) -> BusinessHours:
    intervals = []
    for weekday in range(7):
        if draw(st.booleans()):
            intervals.extend(draw(day_intervals(weekday)))
    closed = draw(st.sets(st.dates(date(2026, 12, 20), date(2027, 2, 10)), max_size=8))
    return BusinessHours(
        time_zone=draw(st.sampled_from(ZONES)),
        intervals=tuple(intervals),
        holiday_country=draw(st.sampled_from(["", "JP", "DE", "US"])),
        closed_dates=frozenset(closed),
    )


INSTANTS = st.datetimes(
    min_value=datetime(2026, 12, 25), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@FAST
@given(hours=schedules(), at=INSTANTS)
def test_the_next_opening_is_open_and_never_on_a_closed_day(hours, at):
    opening = hours.next_opening(at)
    if opening is None:
        assert not hours.is_open(at)
        return
    assert opening >= at
    assert hours.is_open(opening)
    assert not hours.is_closed_day(hours.local_date(opening))
    # Nothing was open between `at` and the opening.
    assert hours.business_minutes_between(at, opening) == 0
    assert hours.is_open(at) is (opening == at)


@FAST
@given(hours=schedules(), start=INSTANTS, minutes=st.integers(0, 5 * MINUTES_A_DAY))
def test_adding_business_time_and_counting_it_back_agree(hours, start, minutes):
    end = hours.add_business_time(start, minutes)
    if end is None:
        return
    assert end >= start
    assert hours.business_minutes_between(start, end) == pytest.approx(minutes, abs=1e-6)
    if minutes:
        # Time was counted right up to `end`: it was open just before.
        assert hours.is_open(end - timedelta(microseconds=1))
        assert not hours.is_closed_day(hours.local_date(end - timedelta(microseconds=1)))


@FAST
@given(hours=schedules(), a=INSTANTS, b=INSTANTS, c=INSTANTS)
def test_business_time_adds_up_over_consecutive_stretches(hours, a, b, c):
    a, b, c = sorted([a, b, c])
    c = min(c, a + timedelta(days=40))
    b = min(b, c)
    whole = hours.business_minutes_between(a, c)
    assert whole == pytest.approx(
        hours.business_minutes_between(a, b) + hours.business_minutes_between(b, c), abs=1e-6
    )
    assert 0 <= whole <= (c - a) / timedelta(minutes=1) + 1e-6
    assert hours.business_minutes_between(c, a) == pytest.approx(-whole, abs=1e-6)


def _boundaries_are_plain_wall_times(hours: BusinessHours, day: date) -> bool:
    """Every interval boundary of `day` exists exactly once (not skipped or repeated by a
    daylight-saving change), so the wall clock alone says whether it is open."""
    zone = hours.zone
    for interval in hours.intervals:
        if interval.weekday != day.weekday():
            continue
        for minute in (interval.opens, interval.closes % MINUTES_A_DAY):
            wall = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(
                minutes=minute
            )
            first, second = wall.replace(fold=0), wall.replace(fold=1)
            if first.utcoffset() != second.utcoffset():
                return False
    return True


@FAST
@given(hours=schedules(), at=INSTANTS)
def test_open_means_the_local_wall_clock_is_inside_an_interval_of_a_day_that_is_not_closed(
    hours, at
):
    wall = at.astimezone(hours.zone)
    day = wall.date()
    if not _boundaries_are_plain_wall_times(hours, day):
        return
    minute = wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60
    if hours.is_closed_day(day):
        expected = False
    elif not hours.intervals:
        expected = True
    else:
        expected = any(
            i.weekday == day.weekday() and i.opens <= minute < i.closes for i in hours.intervals
        )
    assert hours.is_open(at) is expected
