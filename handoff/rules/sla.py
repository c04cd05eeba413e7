"""SLA clocks as time: which clocks run for a conversation, when each is due and at
risk, what the inbox shows of them, and the next instant that changes.

Three clocks, all counted in opening hours (`BusinessHours`) and all starting at the
hand-over, never at the conversation's creation (Chatwoot counted the bot's time):

- first response: from the hand-over (`escalated_at`) until the first agent reply;
- next response: after that first reply, from the customer's first unanswered message
  (`waiting_since`) until an agent answers it;
- resolution: from the hand-over until the conversation is resolved.

A clock's target is snapshotted into a `Clock` (its start, minutes, due and at-risk
instants) when it starts, and kept while it runs with the same start: editing a policy
changes the clocks started after the edit, never history (Chatwoot bug #15407). Time
while closed does not count, so a clock started at closing time is due the next
working day; the due instant already skips the closed hours (the clock "pauses").

Each clock run is an episode of its own for breaches: the first response and
resolution clocks run once per hand-over, the next response clock once per unanswered
customer wait, and each is recorded breached at most once.

Pure: the caller reads the rows and writes the results; nothing here reads models,
the database or the wall clock (`now` is always an argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from handoff.rules.business_hours import BusinessHours

DEFAULT_AT_RISK_PERCENT = 20
MAX_TARGET_MINUTES = 366 * 24 * 60  # a year: longer is a typo, not a promise


class Kind(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


KINDS = frozenset(kind.value for kind in Kind)


class State(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True)
class Targets:
    """A policy's targets in minutes of opening hours (None: not measured) and the
    share of a target left (in percent) at which a clock turns at risk."""

    first_response: int | None = None
    next_response: int | None = None
    resolution: int | None = None
    at_risk_percent: int = DEFAULT_AT_RISK_PERCENT

    def minutes(self, kind: Kind) -> int | None:
        return {
            Kind.FIRST_RESPONSE: self.first_response,
            Kind.NEXT_RESPONSE: self.next_response,
            Kind.RESOLUTION: self.resolution,
        }[kind]


@dataclass(frozen=True)
class Facts:
    """What the conversation holds that the clocks follow."""

    is_open: bool  # waiting for or assigned to people (not with the bot, not resolved)
    escalated_at: datetime | None
    first_reply_at: datetime | None
    waiting_since: datetime | None


@dataclass(frozen=True)
class Clock:
    """One running clock with its target snapshotted at its start."""

    kind: Kind
    started_at: datetime
    minutes: int
    due_at: datetime
    at_risk_at: datetime

    def to_json(self) -> dict:
        return {
            "started_at": self.started_at.isoformat(),
            "minutes": self.minutes,
            "due_at": self.due_at.isoformat(),
            "at_risk_at": self.at_risk_at.isoformat(),
        }

    @classmethod
    def from_json(cls, kind: str, data: Mapping) -> Clock:
        return cls(
            kind=Kind(kind),
            started_at=datetime.fromisoformat(data["started_at"]),
            minutes=int(data["minutes"]),
            due_at=datetime.fromisoformat(data["due_at"]),
            at_risk_at=datetime.fromisoformat(data["at_risk_at"]),
        )


@dataclass(frozen=True)
class Status:
    """What the inbox shows of the clocks, and when that may change next."""

    due_at: datetime
    kind: Kind
    state: State
    check_at: datetime | None  # the next at-risk moment or due time; None: nothing left


def clock_starts(facts: Facts) -> dict[Kind, datetime]:
    """The clocks that run now, by kind, with the instant each started."""
    if not facts.is_open or facts.escalated_at is None:
        return {}
    starts = {Kind.RESOLUTION: facts.escalated_at}
    if facts.first_reply_at is None:
        starts[Kind.FIRST_RESPONSE] = facts.escalated_at
    elif facts.waiting_since is not None:
        starts[Kind.NEXT_RESPONSE] = max(facts.waiting_since, facts.first_reply_at)
    return starts


def business_deadline(
    start: datetime, minutes: float, hours: BusinessHours | None
) -> datetime | None:
    """`minutes` of opening hours after `start` (None: no opening within the
    look-ahead); no schedule means always open."""
    if hours is None or hours.always_open:
        return start + timedelta(minutes=minutes)
    return hours.add_business_time(start, minutes)


def start_clock(
    kind: Kind, started_at: datetime, targets: Targets, hours: BusinessHours | None
) -> Clock | None:
    """The clock snapshotted from today's targets, or None when its kind is not
    measured or the schedule never opens within the look-ahead."""
    minutes = targets.minutes(kind)
    if not minutes:
        return None
    due = business_deadline(started_at, minutes, hours)
    if due is None:
        return None
    left = targets.at_risk_percent / 100
    at_risk = business_deadline(started_at, minutes * (1 - left), hours) or due
    return Clock(kind, started_at, minutes, due, min(at_risk, due))


def needs_snapshot(starts: Mapping[Kind, datetime], previous: Mapping[Kind, Clock]) -> bool:
    """Whether a running clock has no snapshot of its start yet (so the targets and
    opening hours must be read)."""
    return any(
        kind not in previous or previous[kind].started_at != start for kind, start in starts.items()
    )


def running_clocks(
    starts: Mapping[Kind, datetime],
    previous: Mapping[Kind, Clock],
    targets: Targets | None,
    hours: BusinessHours | None,
    *,
    resnapshot: bool = False,
) -> dict[Kind, Clock]:
    """The clocks to keep: a running clock keeps its snapshot while its start is the
    same; a clock that starts (or every clock, with `resnapshot`, when the
    conversation moved to another team) takes the targets given. Stopped clocks drop."""
    clocks: dict[Kind, Clock] = {}
    for kind, start in starts.items():
        kept = previous.get(kind)
        if kept is not None and kept.started_at == start and not resnapshot:
            clocks[kind] = kept
        elif targets is not None and (clock := start_clock(kind, start, targets, hours)):
            clocks[kind] = clock
    return clocks


def restarted(clocks: Mapping[Kind, Clock], previous: Mapping[Kind, Clock]) -> set[Kind]:
    """Kinds whose clock began a new run (a new start): their earlier breach belongs
    to an episode that is over."""
    return {
        kind
        for kind, clock in clocks.items()
        if kind not in previous or previous[kind].started_at != clock.started_at
    }


def new_breaches(
    previous: Mapping[Kind, Clock],
    clocks: Mapping[Kind, Clock],
    breached: Iterable[str],
    now: datetime,
) -> list[Clock]:
    """Clock runs past their due time whose breach is not recorded yet, due first: the
    running ones, and those that end now after their due time (a reply or a resolve
    that came late, before the scanner saw the breach). `breached` names the kinds
    recorded for the runs in `previous`."""
    seen = set(breached)
    renewed = restarted(clocks, previous)
    late = [
        clock
        for kind, clock in previous.items()
        if (kind in renewed or kind not in clocks) and kind not in seen and clock.due_at <= now
    ]
    late += [
        clock
        for kind, clock in clocks.items()
        if clock.due_at <= now and (kind in renewed or kind not in seen)
    ]
    return sorted(late, key=lambda clock: (clock.due_at, clock.kind))


def breached_runs(
    previous: Mapping[Kind, Clock],
    clocks: Mapping[Kind, Clock],
    breached: Iterable[str],
    late: Iterable[Clock],
) -> list[str]:
    """The kinds whose current run has its breach recorded (after recording `late`):
    a run that ended or started again is forgotten with its breach."""
    renewed = restarted(clocks, previous)
    kept = {kind for kind in breached if kind in clocks and kind not in renewed}
    kept |= {
        clock.kind
        for clock in late
        if clock.kind in clocks and clocks[clock.kind].started_at == clock.started_at
    }
    return sorted(str(kind) for kind in kept)


def status(clocks: Mapping[Kind, Clock], breached: Iterable[str], now: datetime) -> Status | None:
    """What to show: a breached running clock wins (the one due first), else the
    nearest due, at risk once its at-risk instant passed. `check_at` is the next
    instant anything changes (an at-risk moment or a due time still ahead), so a
    scanner need not look before it. None when no clock runs."""
    if not clocks:
        return None
    seen = set(breached)
    is_breached = {kind for kind, c in clocks.items() if kind in seen or c.due_at <= now}
    ahead = [
        moment
        for kind, clock in clocks.items()
        if kind not in is_breached
        for moment in (clock.at_risk_at, clock.due_at)
        if moment > now
    ]
    check_at = min(ahead) if ahead else None
    order = sorted(clocks.values(), key=lambda clock: (clock.due_at, clock.kind))
    shown_breached = [clock for clock in order if clock.kind in is_breached]
    if shown_breached:
        clock = shown_breached[0]
        return Status(clock.due_at, clock.kind, State.BREACHED, check_at)
    clock = order[0]
    state = State.AT_RISK if clock.at_risk_at <= now else State.OK
    return Status(clock.due_at, clock.kind, state, check_at)


def clocks_from_json(data: Mapping | None) -> dict[Kind, Clock]:
    """The stored snapshot back as clocks (unknown kinds are dropped)."""
    clocks = {}
    for kind, value in (data or {}).items():
        if kind in KINDS:
            clocks[Kind(kind)] = Clock.from_json(kind, value)
    return clocks


def clocks_to_json(clocks: Mapping[Kind, Clock]) -> dict:
    return {str(kind): clock.to_json() for kind, clock in sorted(clocks.items())}
