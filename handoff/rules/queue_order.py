"""The order waiting customers are served in: oldest hand-over first, except those
whose WhatsApp window would close before they are likely to be served.

Twenty-four hours after a customer's last message only a paid template reaches them.
Strict oldest-first can let a customer whose window is nearly spent (a bot
conversation taken over late, a chat returned to the queue, a night's backlog) lapse
while fresher ones are answered. So a waiting customer is *at risk* when their
window closes before the wait likely at their oldest-first place (the high end of the
range they would be told, rules/wait_estimate.py) plus the time an agent needs to
answer (`ANSWER_TIME`): fewer than 9 chances in 10 of being answered in time. Those
at risk go first, the one whose window closes soonest first (earliest deadline
first: among deadlines that can all be met it meets them all), then everyone else
oldest first. A window already closed gives no priority: being served sooner no
longer lets free text reach them.

The rule is the whole decision; the assigner, the Waiting list, the place told and
the replayed day (tests/devtools/replay_day.py) all follow it. Pure: no models, no
clock.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# How long after being assigned an agent's first reply may take: the window must
# still be open then, not only at the assignment.
ANSWER_TIME = timedelta(minutes=10)


@dataclass(frozen=True)
class InLine:
    """A waiting conversation as the order sees it."""

    id: int
    team_id: int | None  # None: any agent serves it
    escalated_at: datetime
    window_closes_at: datetime | None  # None: the customer never wrote


# Whether the customer at this place in this team's line is served within so many
# seconds at least as likely as the high end of the range they would be told promises
# (rules/wait_estimate.Desk.in_time); None: no agent who could serve them is at their
# desk, so no wait is known.
InTime = Callable[[int | None, int, float], bool | None]


def oldest_first_places(waiting: Iterable[InLine]) -> dict[int, int]:
    """Each conversation's place (1: next) when its line is served oldest first.

    A line is what the agents who may take the conversation serve: a team's line
    holds the team's conversations and those of no team, which every agent takes;
    a conversation of no team is behind every older one.
    """
    places: dict[int, int] = {}
    per_team: dict[int, int] = {}
    teamless = 0
    for older, entry in enumerate(sorted(waiting, key=lambda e: (e.escalated_at, e.id))):
        if entry.team_id is None:
            places[entry.id] = older + 1
            teamless += 1
        else:
            places[entry.id] = per_team.get(entry.team_id, 0) + teamless + 1
            per_team[entry.team_id] = per_team.get(entry.team_id, 0) + 1
    return places


def at_risk(entry: InLine, *, place: int, now: datetime, in_time: InTime) -> bool:
    """Whether the customer's window closes before they would be served and
    answered at their oldest-first `place`."""
    closes = entry.window_closes_at
    if closes is None or closes <= now:
        return False  # nothing left to save
    left = (closes - now - ANSWER_TIME).total_seconds()
    # None: no one serves the line now, and no order serves them sooner.
    return in_time(entry.team_id, place, left) is False


def deadlines(waiting: Iterable[InLine], *, now: datetime, in_time: InTime) -> dict[int, datetime]:
    """The conversations at risk, each with the moment it must be served by (its
    window's close): what the order puts first."""
    waiting = list(waiting)
    places = oldest_first_places(waiting)
    return {
        entry.id: entry.window_closes_at
        for entry in waiting
        if at_risk(entry, place=places[entry.id], now=now, in_time=in_time)
    }


def serving_key(*, serve_by: datetime | None, escalated_at: datetime | None, id: int):
    """Sort key of the order: at risk first by deadline, then oldest hand-over (a
    conversation without one first, as the database sorts it), then lowest id."""
    return (
        serve_by is None,
        serve_by.timestamp() if serve_by else 0.0,
        escalated_at is not None,
        escalated_at.timestamp() if escalated_at else 0.0,
        id,
    )


def in_serving_order(waiting: Iterable[InLine], *, now: datetime, in_time: InTime) -> list[InLine]:
    """The waiting conversations in the order they are served."""
    waiting = list(waiting)
    serve_by = deadlines(waiting, now=now, in_time=in_time)
    return sorted(
        waiting,
        key=lambda e: serving_key(
            serve_by=serve_by.get(e.id), escalated_at=e.escalated_at, id=e.id
        ),
    )
