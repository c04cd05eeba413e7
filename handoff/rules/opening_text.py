"""What a customer is told when they are handed to the agents outside opening hours:
"We are closed now and open again Monday 9:00."

The text is in the customer's language, not the agent's: admins keep it per language
(models.CustomerText, or a schedule's own text for every language); the built-in
wording and the way a date is written exist here for English and Japanese, rather than
in the interface's translation catalogues, so that a customer's message never depends
on which language an admin's browser asked for. `{opening}` is filled in the
customer's language (other languages get the English way of writing a date).

The opening is given as the schedule's local wall time; the zone is named only when
the customer is known to live in another one.

Pure: no models, no settings; the service passes in the language and zones it chose.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from handoff.rules import system_texts

PLACEHOLDER = "{opening}"
_PLACEHOLDERS = re.compile(r"\{[^{}\s]*\}")

# The built-in offline texts (admins keep their own per language: models.CustomerText).
DEFAULT_TEXT = system_texts.DEFAULTS[system_texts.OFFLINE]
# When the schedule does not open within the look-ahead (every day closed).
NO_OPENING_TEXT = {
    "en": "We are closed now. A member of our team will reply here as soon as we can.",
    "ja": "ただいま営業時間外です。担当者より追ってこちらにご返信いたします。",
}
LANGUAGES = tuple(DEFAULT_TEXT)

_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_JA_WEEKDAYS = "月火水木金土日"


def customer_language(candidate: str, fallback: str) -> str:
    """The language to write to a customer in: theirs when we have texts for it ("ja",
    "ja-JP", "JA_jp" all mean Japanese), else the fallback, else English."""
    for code in (candidate, fallback):
        primary = re.split(r"[-_]", (code or "").strip().lower(), maxsplit=1)[0]
        if primary in DEFAULT_TEXT:
            return primary
    return "en"


def format_opening(opening: datetime, *, now: datetime, zone: ZoneInfo, language: str) -> str:
    """The opening as the customer reads it, in the schedule's local time.

    English: "today 13:00", "tomorrow 9:00", "Monday 9:00" within the week, else
    "Monday 12 January 9:00". Japanese always with the date: "1月12日（火）9:00".
    """
    local = opening.astimezone(zone)
    clock = f"{local.hour}:{local.minute:02d}"
    weekday = local.weekday()
    if language == "ja":
        return f"{local.month}月{local.day}日（{_JA_WEEKDAYS[weekday]}）{clock}"
    days_ahead = (local.date() - now.astimezone(zone).date()).days
    if days_ahead == 0:
        return f"today {clock}"
    if days_ahead == 1:
        return f"tomorrow {clock}"
    if days_ahead < 7:
        return f"{_EN_WEEKDAYS[weekday]} {clock}"
    return f"{_EN_WEEKDAYS[weekday]} {local.day} {_EN_MONTHS[local.month - 1]} {clock}"


def _zone_note(zone: ZoneInfo, language: str) -> str:
    if language == "ja":
        return f"（{zone.key}時間）"
    return f" ({zone.key} time)"


def offline_text(
    *,
    template: str,
    opening: datetime | None,
    now: datetime,
    zone: ZoneInfo,
    language: str,
    customer_zone: ZoneInfo | None = None,
) -> str:
    """The text to send instead of the hand-over text while closed.

    `template` is the admin's text (blank: the built-in one in `language`); `opening`
    None means no opening is in sight, and then a text that needs one gives way to the
    built-in text that promises none. The zone is named when `customer_zone` is known
    and keeps other hours than the schedule's.
    """
    language = language.split("-", 1)[0]
    language = language if language in DEFAULT_TEXT else "en"  # how dates are written
    template = template.strip()
    if opening is None:
        if not template or PLACEHOLDER in template:
            return NO_OPENING_TEXT[language]
        return template
    text = template or DEFAULT_TEXT[language]
    when = format_opening(opening, now=now, zone=zone, language=language)
    if customer_zone is not None and _differs(customer_zone, zone, opening):
        when += _zone_note(zone, language)
    return text.replace(PLACEHOLDER, when)


def _differs(customer_zone: ZoneInfo, zone: ZoneInfo, at: datetime) -> bool:
    """Other hours than the schedule's around the opening (same offset, other name:
    no need to name it)."""
    return (
        customer_zone.key != zone.key
        and at.astimezone(customer_zone).utcoffset() != at.astimezone(zone).utcoffset()
    )


def offline_text_problem(text: str) -> str | None:
    """An admin's offline text with a placeholder other than {opening} (a typo would
    reach customers as written)."""
    unknown = sorted({p for p in _PLACEHOLDERS.findall(text) if p != PLACEHOLDER})
    if unknown:
        return _(
            "Unknown placeholder %(names)s: the only one is {opening}, the next opening time."
        ) % {"names": ", ".join(unknown)}
    return None
