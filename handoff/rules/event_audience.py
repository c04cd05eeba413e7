"""Which live sockets need an event at once, and which can do without it.

An agent's page shows one list (`listing`: their Waiting queue, Mine, Bot, Resolved,
or All, and All while they search), the conversation they have open, their alerts and
the tabs' counts. At 200 agents most events concern a handful of them: a customer
writing to the agent who serves them, the bot answering someone no agent has taken.
So an event that moves a row (a conversation's new state, a customer's, the bot's or
an agent's message: the row's preview) goes to the sockets whose agent sees that row
where it is or where it just was: assigned to them, waiting in their queues (their
teams' and no team's; staff see every team's), in the list their page shows, or open.
The events that only change a transcript (a reply's delivery state, the system's
notices to the customer, a private note) go only to the sockets that have it open, and
a note also to the agents it mentions. Events about the agents (presence, access) go
to every socket. An event whose row place is not known goes to every socket: sending
more than needed never hurts a client, sending less loses it a row.

Watching sockets (staff, supervisors) and catch-ups (`?after`) get everything: they
are few, and a replay must not depend on what was open while the socket was away.
"""

from dataclasses import dataclass

WAITING, BOT, RESOLVED = "waiting", "bot", "resolved"
EVERYTHING = "all"
# What an agent's page may say it lists (docs/websocket.md, `listing`).
LISTINGS = frozenset({WAITING, "mine", BOT, RESOLVED, EVERYTHING})
# The lists that show rows of every team by their state alone.
_STATE_LISTS = frozenset({BOT, RESOLVED})


@dataclass(frozen=True)
class Place:
    """Where a conversation's row is: what decides whose lists show it."""

    state: str
    team: str | None  # by name, as the pages know their agent's teams
    assignee: str | None  # username


@dataclass(frozen=True)
class Audience:
    """An event for the sockets viewing `conversation_id`, for `agents` (usernames)
    wherever they are, and for those whose lists show the row at one of `places`."""

    conversation_id: int | None
    agents: frozenset[str] = frozenset()
    places: tuple[Place, ...] = ()


def place_of(conversation: dict) -> Place:
    """The place of a `conversation.updated` event's conversation."""
    return Place(conversation.get("state"), conversation.get("team"), conversation.get("assignee"))


def transcript_audience(event: dict) -> Audience | None:
    """The audience of an event that moves no row (None: not such an event)."""
    kind = event.get("type")
    if kind == "message.delivery":
        return Audience(event.get("conversation_id"))
    if kind == "message.created":
        message = event.get("message") or {}
        if message.get("author_kind") == "system":
            return Audience(message.get("conversation_id"))
        return None
    if kind == "note.created":
        note = event.get("note") or {}
        return Audience(note.get("conversation_id"), frozenset(note.get("mentions") or ()))
    return None


def reaches(
    audience: Audience | None,
    *,
    viewing: int | None,
    username: str,
    listing: str = EVERYTHING,
    teams: frozenset[str] | None = None,
) -> bool:
    """Whether a socket is sent the event live. `teams`: the agent's (None: every
    team's waiting queue, as staff see them)."""
    if audience is None:
        return True
    if viewing is not None and viewing == audience.conversation_id:
        return True
    if username in audience.agents:
        return True
    return any(
        _shows(place, username=username, listing=listing, teams=teams) for place in audience.places
    )


def _shows(place: Place, *, username: str, listing: str, teams: frozenset[str] | None) -> bool:
    """Whether the agent's page shows the row at `place`: in the list it shows, or
    where its alerts and Mine and Waiting tabs watch whatever list is open."""
    if listing == EVERYTHING or place.assignee == username:
        return True
    if place.state == WAITING:
        return place.team is None or teams is None or place.team in teams
    return listing in _STATE_LISTS and place.state == listing
