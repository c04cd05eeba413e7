"""Reads for opening hours: the schedule a hand-over follows, as the plain data
`rules.business_hours` works on, and the text the customer gets when it is closed.

The schedule is the conversation's team's, else the settings'; none means always
open. The customer's language is selectors/customer_texts.py's; their time zone what
Braze's webhook sent with their latest message, when the webhook body carries Braze's
`time_zone` profile attribute (README, "Opening hours"), else none of their own.

Never writes: the escalation service sends the text and records the facts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handoff.models import Conversation, CustomerText, HandoffSettings, Schedule, Team
from handoff.rules import business_hours, opening_text, system_texts, wait_wording
from handoff.rules.assignment import FreeAgent
from handoff.rules.business_hours import BusinessHours, Interval
from handoff.selectors import customer_texts, queue_place
from handoff.selectors.queue_place import QueuePlace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handover:
    """What a hand-over tells the customer: `text` ("" sends nothing), and whether it
    happened outside opening hours with the next opening (None: none in sight)."""

    text: str
    outside_hours: bool = False
    opens_at: datetime | None = None
    place: QueuePlace | None = None  # when the text told the customer their place

    def event_data(self) -> dict:
        """What the escalation event records: the place and wait the customer was told
        (for the inbox and for measuring the estimates), or that it was outside the
        opening hours with the next opening, so the inbox can say "opens Mon 9:00"."""
        data = {}
        if self.place is not None:
            data["queue_position"] = self.place.position
            told = self.place.estimate
            data["wait_told"] = [round(told.low), round(told.high)] if told else None
        if self.outside_hours:
            data["outside_hours"] = True
            data["opens_at"] = self.opens_at.isoformat() if self.opens_at else None
        return data


@dataclass(frozen=True)
class CustomerTerms:
    language: str
    time_zone: ZoneInfo | None


def business_hours_of(schedule: Schedule) -> BusinessHours:
    """A schedule's rows as the rules' plain data (two queries)."""
    return BusinessHours(
        time_zone=schedule.time_zone,
        intervals=tuple(
            Interval(weekday, opens, closes)
            for weekday, opens, closes in schedule.intervals.values_list(
                "weekday", "opens", "closes"
            )
        ),
        holiday_country=schedule.holiday_country,
        holiday_subdiv=schedule.holiday_subdiv,
        closed_dates=frozenset(schedule.closed_dates.values_list("date", flat=True)),
    )


def customer_terms(conversation: Conversation) -> CustomerTerms:
    """The language and time zone to tell this customer a time in (two queries)."""
    latest = customer_texts.latest_messages(conversation)
    extra = next((extra for _text, extra in latest if isinstance(extra, dict)), {})
    zone_name = extra.get("time_zone")
    zone = None
    if isinstance(zone_name, str) and business_hours.time_zone_problem(zone_name) is None:
        zone = ZoneInfo(zone_name)
    return CustomerTerms(language=customer_texts.language_in(latest), time_zone=zone)


def schedule_for(team_id: int | None, settings_row: HandoffSettings | None = None):
    """The opening hours a team's conversations follow: the team's own, else the
    settings'; None: always open."""
    if team_id is not None:
        team = Team.objects.select_related("schedule").filter(pk=team_id).first()
        if team is not None and team.schedule is not None:
            return team.schedule
    row = settings_row or HandoffSettings.load()
    return row.schedule


def handover(
    conversation: Conversation, *, now: datetime, serving: list[FreeAgent] | None = None
) -> Handover:
    """The hand-over text in the customer's language while open (or with no schedule);
    while closed, the offline text naming the next opening in the customer's terms:
    the schedule's own when it has one, else the language's."""
    row = HandoffSettings.load()
    schedule = schedule_for(conversation.team_id, row)
    terms = customer_terms(conversation)
    usual = _usual(conversation, terms.language, now=now, serving=serving)
    if schedule is None:
        return usual
    hours = business_hours_of(schedule)
    try:
        if hours.is_open(now):
            return usual
        opens_at = hours.next_opening(now)
    except (LookupError, ValueError, NotImplementedError):
        # Admin's forms refuse these; a row changed behind their back (an unknown zone
        # or country) must not stop the hand-over itself.
        logger.exception("Opening hours %r cannot be read; handing over as if open", schedule.name)
        return usual
    text = opening_text.offline_text(
        template=schedule.offline_text
        or customer_texts.text(CustomerText.Key.OFFLINE, terms.language),
        opening=opens_at,
        now=now,
        zone=hours.zone,
        language=terms.language,
        customer_zone=terms.time_zone,
    )
    return Handover(text=text, outside_hours=True, opens_at=opens_at)


def _usual(
    conversation: Conversation, language: str, *, now: datetime, serving: list[FreeAgent] | None
) -> Handover:
    """The hand-over text in `language`, its `{position}` and `{wait}` filled with the
    customer's place in the queue and the wait estimated now."""
    text = customer_texts.text(CustomerText.Key.HANDOVER, language)
    if not system_texts.needs(text, system_texts.PLACEHOLDERS[system_texts.HANDOVER]):
        return Handover(text=text)
    place = queue_place.place_of(conversation, now=now, serving=serving)
    values = {
        "{position}": str(place.position),
        "{wait}": wait_wording.wait_text(place.estimate, language),
    }
    return Handover(text=system_texts.fill(text, values), place=place)
