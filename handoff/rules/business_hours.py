"""Opening hours as time: whether a schedule is open, when it opens next, and business
time for reply clocks (adding it to an instant, counting it between two).

A schedule is plain data here (`BusinessHours`): a time zone, weekly intervals in
minutes from local midnight (several a day; closing at 24:00 allowed), a country's
public holidays (the `holidays` package) and the company's own closed dates. Open
periods are built day by day as local wall times in the schedule's zone and only then
turned into UTC instants, so a day that loses or gains an hour to daylight saving has
exactly the hours the clock on the wall shows. Instants in and out are aware datetimes.

Look-ahead is bounded (`LOOKAHEAD_DAYS`): a schedule that never opens in that time
answers None ("never") instead of searching for ever.

Never reads models or the database: the selectors build a `BusinessHours` from the
admin's rows, and everything here is a function of its arguments (and of the holiday
tables, cached per country, subdivision and year).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.utils.translation import gettext as _

LOOKAHEAD_DAYS = 400
MINUTES_A_DAY = 24 * 60
WEEKDAYS = range(7)  # 0 is Monday, as date.weekday() counts

_CLOCK = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*$")


@dataclass(frozen=True)
class Interval:
    """Open on `weekday` from `opens` to `closes`, in minutes from local midnight."""

    weekday: int
    opens: int
    closes: int


@dataclass(frozen=True)
class BusinessHours:
    """One schedule as plain data. No intervals: open all day on every day that is not
    closed (and with no closed days either, simply always open)."""

    time_zone: str
    intervals: tuple[Interval, ...] = ()
    holiday_country: str = ""
    holiday_subdiv: str = ""
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def always_open(self) -> bool:
        return not self.intervals and not self.holiday_country and not self.closed_dates

    # --- Days -------------------------------------------------------------------------

    def is_closed_day(self, day: date) -> bool:
        """A public holiday of the schedule's country (and subdivision) or a closed date."""
        return day in self.closed_dates or day in public_holidays(
            self.holiday_country, self.holiday_subdiv, day.year
        )

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def day_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The local day's open periods as UTC instants, in order (empty when closed)."""
        if self.is_closed_day(day):
            return []
        if not self.intervals:
            minutes = [(0, MINUTES_A_DAY)]
        else:
            minutes = sorted(
                (i.opens, i.closes) for i in self.intervals if i.weekday == day.weekday()
            )
        spans = []
        for opens, closes in minutes:
            start, end = self._instant(day, opens), self._instant(day, closes)
            if end > start:  # an interval inside a skipped DST hour has no length
                spans.append((start, end))
        return spans

    def _instant(self, day: date, minute: int) -> datetime:
        """Local wall time `minute` after midnight of `day`, as UTC. A wall time skipped
        by daylight saving counts with the offset before the change (zoneinfo's fold=0):
        02:30 on a spring-forward night is 03:30 summer time."""
        if minute >= MINUTES_A_DAY:
            day, minute = day + timedelta(days=1), minute - MINUTES_A_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    # --- Open periods -----------------------------------------------------------------

    def spans(
        self, start: datetime, *, days: int = LOOKAHEAD_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open periods that end after `start`, merged where one runs into the next
        (Monday until 24:00 and Tuesday from 0:00 is one period), in order, over the
        next `days` local days. A period still open at the horizon ends there."""
        if self.always_open:
            yield start, start + timedelta(days=days)
            return
        first = self.local_date(start) - timedelta(days=1)
        current: tuple[datetime, datetime] | None = None
        for offset in range(days + 2):
            for span in self.day_spans(first + timedelta(days=offset)):
                if current is not None and span[0] <= current[1]:
                    current = (current[0], max(current[1], span[1]))
                    continue
                if current is not None and current[1] > start:
                    yield current
                current = span
        if current is not None and current[1] > start:
            yield current

    def is_open(self, at: datetime) -> bool:
        for opens, _closes in self.spans(at, days=2):
            return opens <= at
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """The first instant at or after `at` when the schedule is open: `at` itself
        while open; None if it does not open within the look-ahead."""
        if self.is_open(at):  # no need to follow an open period to its end
            return at
        for opens, _closes in self.spans(at):
            return max(opens, at)
        return None

    def closes_at(self, at: datetime) -> datetime | None:
        """When the open period `at` lies in ends (None while closed)."""
        for opens, closes in self.spans(at):
            return closes if opens <= at else None
        return None

    # --- Business time ----------------------------------------------------------------

    def add_business_time(self, start: datetime, minutes: float) -> datetime | None:
        """The instant when `minutes` of open time have passed since `start` (a reply
        clock's due time). Time while closed does not count; from a closed instant the
        count starts at the next opening. None if the look-ahead runs out first."""
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        left = timedelta(minutes=minutes)
        for opens, closes in self.spans(start):
            begin = max(opens, start)
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
        return None

    def business_minutes_between(self, a: datetime, b: datetime) -> float:
        """Minutes of open time from `a` to `b` (negative when `b` is before `a`)."""
        if b < a:
            return -self.business_minutes_between(b, a)
        days = (self.local_date(b) - self.local_date(a)).days + 2
        total = timedelta()
        for opens, closes in self.spans(a, days=days):
            if opens >= b:
                break
            total += min(closes, b) - max(opens, a)
        return total / timedelta(minutes=1)


def _holidays():
    """The `holidays` package, imported when first needed: its tables take tens of
    milliseconds to import, which every process (the webhook's included) would
    otherwise pay at start whether or not a schedule names a country."""
    import holidays

    return holidays


@lru_cache(maxsize=256)
def public_holidays(country: str, subdiv: str, year: int) -> frozenset[date]:
    """The country's (and subdivision's) public holidays in `year`, observed days
    included (Japan's substitute holidays); empty for no country. Cached: the tables
    are computed, and a year's holidays do not change while a process runs."""
    if not country:
        return frozenset()
    holidays = _holidays()
    table = holidays.country_holidays(country, subdiv=subdiv or None, years=year)
    return frozenset(table.keys())


def holiday_names(
    country: str, subdiv: str, start: date, count: int, *, language: str | None = None
) -> list[tuple[date, str]]:
    """The next `count` public holidays from `start` with their names, for admin's
    preview of what the schedule treats as closed. Named in `language` where the
    country's tables have it (Japan's have Japanese), else in the tables' own."""
    if not country:
        return []
    holidays = _holidays()
    if language not in holidays.list_localized_countries().get(country, ()):
        language = None
    found: list[tuple[date, str]] = []
    for year in range(start.year, start.year + 3):
        table = holidays.country_holidays(
            country, subdiv=subdiv or None, years=year, language=language
        )
        found.extend((day, name) for day, name in sorted(table.items()) if day >= start)
        if len(found) >= count:
            break
    return found[:count]


# --- Validation (admin's forms and the models share these) ------------------------------


def time_zone_problem(name: str) -> str | None:
    if name not in _time_zones():
        return _(
            "“%(name)s” is not a time zone name; use one like Asia/Tokyo or Europe/Berlin."
        ) % {"name": name}
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _("“%(name)s” is not a time zone this server knows.") % {"name": name}
    return None


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_choices() -> list[str]:
    return sorted(_time_zones())


def holiday_country_problem(country: str, subdiv: str) -> dict[str, str]:
    """Problems with a holiday country and subdivision, by field name."""
    if not country:
        return {"holiday_subdiv": _("Choose a country first.")} if subdiv else {}
    supported = _holidays().list_supported_countries(include_aliases=False)
    if country not in supported:
        return {
            "holiday_country": _(
                "“%(code)s” is not a country the holiday tables know; use its two-letter "
                "ISO code, such as JP, DE or US."
            )
            % {"code": country}
        }
    if subdiv and subdiv not in supported[country]:
        choices = ", ".join(supported[country]) or _("none")
        return {
            "holiday_subdiv": _(
                "“%(subdiv)s” is not a subdivision of %(code)s (known: %(choices)s)."
            )
            % {"subdiv": subdiv, "code": country, "choices": choices}
        }
    return {}


def parse_clock(text: str) -> int:
    """ "9:00", "09:30", "24:00" or "18" as minutes from midnight; ValueError otherwise."""
    match = _CLOCK.match(text or "")
    if not match:
        raise ValueError(_("Write the time as hours and minutes, such as 9:00 or 17:30."))
    hours, minutes = int(match[1]), int(match[2] or 0)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(
            _("%(text)s is not a time of day (00:00 to 24:00).") % {"text": text.strip()}
        )
    return hours * 60 + minutes


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def interval_problems(intervals: Iterable[Interval]) -> list[str]:
    """What is wrong with a week of intervals: one that ends before it starts, or two
    on the same day that overlap (one may start when another ends)."""
    problems = []
    by_day: dict[int, list[Interval]] = {}
    for interval in intervals:
        if not 0 <= interval.opens < interval.closes <= MINUTES_A_DAY:
            problems.append(
                _(
                    "%(opens)s–%(closes)s: the closing time must be after the opening "
                    "time (24:00 at the latest)."
                )
                % {"opens": format_clock(interval.opens), "closes": format_clock(interval.closes)}
            )
            continue
        by_day.setdefault(interval.weekday, []).append(interval)
    for day_intervals in by_day.values():
        day_intervals.sort(key=lambda i: (i.opens, i.closes))
        for before, after in zip(day_intervals, day_intervals[1:], strict=False):
            if after.opens < before.closes:
                problems.append(
                    _("%(a)s and %(b)s on the same day overlap.")
                    % {
                        "a": f"{format_clock(before.opens)}–{format_clock(before.closes)}",
                        "b": f"{format_clock(after.opens)}–{format_clock(after.closes)}",
                    }
                )
    return problems
