"""A wait estimate as a customer reads it, in their language: "about 5 to 10 minutes",
"5〜10分ほど". It fills the `{wait}` of admin's texts, which are written around it
("the wait is {wait}", "待ち時間は{wait}です"), so each wording reads as a noun phrase.

The range is rounded outward (the low end down, the high end up; to 5 minutes past
10 minutes, to whole hours past 2 hours): a customer is told a range they can hold
us to, and a rounder one than the model's.

Pure: no models, no settings.
"""

import math

from handoff.rules.wait_estimate import Estimate

UNKNOWN = {"en": "not known yet", "ja": "未定"}
UNDER_A_MINUTE = {"en": "under a minute", "ja": "1分未満"}


def wait_text(estimate: Estimate | None, language: str) -> str:
    """`estimate` in `language` (English or Japanese; other languages get a
    language-neutral "5–10 min")."""
    language = language.split("-", 1)[0]
    if estimate is None:
        return UNKNOWN.get(language, "?")
    low, high = told_range(estimate)
    if estimate.high <= 60:
        return UNDER_A_MINUTE.get(language, "< 1 min")
    if estimate.high <= 2 * 3600:
        return _phrase(language, round(low / 60), round(high / 60), hours=False)
    return _phrase(language, round(low / 3600), round(high / 3600), hours=True)


def told_range(estimate: Estimate) -> tuple[float, float]:
    """The range in seconds as the customer reads it (what they can hold us to, and
    what the replayed day checks the wait against): under a minute, or the model's
    range rounded outward."""
    low, high = estimate.low, estimate.high
    if high <= 60:
        return 0.0, 60.0
    if high <= 2 * 3600:
        low_minutes, high_minutes = _rounded(low / 60, high / 60, step=5 if high > 600 else 1)
        return low_minutes * 60.0, high_minutes * 60.0
    low_hours, high_hours = _rounded(low / 3600, high / 3600, step=1)
    return low_hours * 3600.0, high_hours * 3600.0


def _rounded(low: float, high: float, *, step: int) -> tuple[int, int]:
    low_unit = int(math.floor(low / step) * step)
    high_unit = int(math.ceil(high / step) * step)
    return low_unit, max(high_unit, low_unit + step)


def _phrase(language: str, low: int, high: int, *, hours: bool) -> str:
    if language == "ja":
        unit = "時間" if hours else "分"
        return f"{high}{unit}以内" if low == 0 else f"{low}〜{high}{unit}ほど"
    if language == "en":
        unit = "hours" if hours else "minutes"
        return f"up to {high} {unit}" if low == 0 else f"about {low} to {high} {unit}"
    unit = "h" if hours else "min"
    return f"{low}–{high} {unit}"
