"""The arithmetic of reports, one definition for the page, the JSON summary, the CSV
and the tests' hand computation: percentiles, rounding, rates, a report's range of
local dates as instants, and a CSV cell that a spreadsheet will not run.

Pure: no models, no database, no clock (only gettext, for the page's language).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

MAX_RANGE_DAYS = 366
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def nearest_rank(values: Sequence[float], fraction: float) -> float | None:
    """The value at position ⌈fraction·n⌉ of the sorted values (PostgreSQL's
    `percentile_disc`): always one of the values, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def whole_seconds(value: float | None) -> int | None:
    """Seconds as shown everywhere: whole, half rounded up."""
    if value is None:
        return None
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rate(part: int, whole: int) -> float | None:
    """A share with four decimals, or None when there is nothing to share."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class Durations:
    """How many, and the median and 90th percentile, in whole seconds."""

    count: int
    p50: int | None
    p90: int | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Durations":
        return cls.ranked(len(seconds), nearest_rank(seconds, 0.5), nearest_rank(seconds, 0.9))

    @classmethod
    def ranked(cls, count: int, p50: float | None, p90: float | None) -> "Durations":
        """From percentiles already taken by nearest rank (by the database)."""
        return cls(count=count, p50=whole_seconds(p50), p90=whole_seconds(p90))

    def as_dict(self) -> dict:
        return {"count": self.count, "p50_seconds": self.p50, "p90_seconds": self.p90}


@dataclass(frozen=True)
class LocalRange:
    """The local dates `first` to `last` (both included) in `zone`, as the instants
    [start, end): built per day boundary with zoneinfo, so a DST change is right."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=self.zone)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def range_problem(first: date, last: date) -> str | None:
    """Why these dates cannot be a report's range, or None."""
    if last < first:
        return _("'to' must not be before 'from'.")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return _("a range is at most %(days)d days.") % {"days": MAX_RANGE_DAYS}
    return None


def safe_cell(value) -> str:
    """A CSV cell: text that a spreadsheet would read as a formula gets a leading
    apostrophe (as Chatwoot's CSVSafe does); None is empty."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
