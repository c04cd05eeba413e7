"""When an assignee's reply is due before the conversation goes back to the queue.

The clock starts at the later of the moment the customer began waiting (their message,
or the hand-over) and the moment this agent got the conversation: an agent handed a
chat that waited an hour in the queue still has the whole timer. It counts opening
hours only, so a customer who wrote at closing time does not cost the morning's agent
their chat at 9:01. Pure: the caller reads the rows.
"""

from datetime import datetime, timedelta

from handoff.rules.business_hours import BusinessHours


def reply_due(
    *,
    waiting_since: datetime | None,
    assigned_at: datetime | None,
    minutes: int | None,
    hours: BusinessHours | None,
) -> datetime | None:
    """The instant the reply is due, or None: no timer, nobody waiting, not assigned,
    or no opening in sight."""
    if not minutes or waiting_since is None or assigned_at is None:
        return None
    start = max(waiting_since, assigned_at)
    if hours is None or hours.always_open:
        return start + timedelta(minutes=minutes)
    return hours.add_business_time(start, minutes)
