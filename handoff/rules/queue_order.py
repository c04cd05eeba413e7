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
oldest first. Two exceptions keep the priority honest: a window already closed gives
none (being served sooner no longer lets free text reach them), and under overload
a customer who would lapse even at their place among those moved ahead keeps their
place instead (earliest deadline first alone would then serve the hopeless first and
lose the savable behind them).

The rule is the whole decision; the assigner, the Waiting list, the place told and
the replayed day (tests/devtools/replay_day.py) all follow it. Pure: no models, no
clock.
"""

from collections.abc import Callable, Iterable, Mapping
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


# The chance that the customer at this place in this team's line is served within so
# many seconds (rules/wait_estimate.Desk.chance_within); None: no agent who could
# serve them is at their desk, so no wait is known.
Chance = Callable[[int | None, int, float], float | None]
# At risk below this chance of being answered in time: the high end of the range a
# customer is told is the wait they are served within this likely.
LIKELY = 0.9
# Moved ahead only while first place among those at risk gives at least this chance:
# under overload, a customer who would lapse even there keeps their place rather
# than push back those who can still be saved.
SAVABLE = 0.1


def oldest_first_places(waiting: Iterable[InLine]) -> dict[int, int]:
    """Each conversation's place (1: next) when its line is served oldest first."""
    lines = _Lines()
    places = {}
    for entry in sorted(waiting, key=lambda e: (e.escalated_at, e.id)):
        places[entry.id] = lines.place_of(entry)
        lines.take(entry)
    return places


class _Lines:
    """The conversations taken so far, counted per line, to place the next one.

    A line is what the agents who may take the conversation serve: a team's line
    holds the team's conversations and those of no team, which every agent takes;
    a conversation of no team is behind every one before it.
    """

    def __init__(self):
        self.per_team: dict[int, int] = {}
        self.teamless = 0
        self.total = 0

    def place_of(self, entry: InLine) -> int:
        if entry.team_id is None:
            return self.total + 1
        return self.per_team.get(entry.team_id, 0) + self.teamless + 1

    def take(self, entry: InLine) -> None:
        self.total += 1
        if entry.team_id is None:
            self.teamless += 1
        else:
            self.per_team[entry.team_id] = self.per_team.get(entry.team_id, 0) + 1


def at_risk(entry: InLine, *, place: int, now: datetime, chance: Chance) -> bool:
    """Whether the customer's window likely closes before they would be served and
    answered at their oldest-first `place`."""
    likely = _chance_in_time(entry, place=place, now=now, chance=chance)
    # None: no one serves the line now, and no order serves them sooner.
    return likely is not None and likely < LIKELY


def deadlines(
    waiting: Iterable[InLine],
    *,
    now: datetime,
    chance: Chance,
    moved: Mapping[int, datetime] | None = None,
) -> dict[int, datetime]:
    """The conversations moved ahead, each with the moment it must be served by (its
    window's close): those at risk, taken by earliest deadline, each kept while its
    place among those kept before it still gives it a chance (SAVABLE) of being taken
    before the window closes.

    `moved`: the deadlines decided before. One moved ahead stays ahead until served,
    its window closes or the customer writes again (a new window, a new deadline):
    the desk's free room comes and goes as agents claim and resolve, and a customer
    must not jump the line, fall back and jump again with it."""
    waiting = list(waiting)
    moved = moved or {}
    places = oldest_first_places(waiting)

    def stays(entry: InLine) -> bool:
        closes = entry.window_closes_at
        return closes is not None and closes > now and moved.get(entry.id) == closes

    candidates = sorted(
        (e for e in waiting if stays(e) or at_risk(e, place=places[e.id], now=now, chance=chance)),
        key=lambda e: (e.window_closes_at, e.escalated_at, e.id),
    )
    kept, lines = {}, _Lines()
    for entry in candidates:
        place = lines.place_of(entry)
        # Taken before the window closes, an agent may still be quick enough.
        if (
            stays(entry)
            or (_chance_in_time(entry, place=place, now=now, chance=chance, answer=False) or 0)
            >= SAVABLE
        ):
            kept[entry.id] = entry.window_closes_at
            lines.take(entry)
    return kept


def _chance_in_time(
    entry: InLine, *, place: int, now: datetime, chance: Chance, answer: bool = True
) -> float | None:
    """The chance of being taken (and, with `answer`, answered) before the window
    closes; None when it is closed or no one serves the line."""
    closes = entry.window_closes_at
    if closes is None or closes <= now:
        return None  # nothing left to save
    left = closes - now - (ANSWER_TIME if answer else timedelta(0))
    return chance(entry.team_id, place, left.total_seconds())


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
