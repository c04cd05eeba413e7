"""Which live sockets need an event at once, and which can do without it.

Every inbox shows every conversation's place in the lists, so the events that move a
row (a conversation's new state, a customer's, the bot's or an agent's message: the
row's preview) and those about the agents (presence, access) go to every socket. Some
events only change a conversation's transcript: a reply's delivery state, the
system's notices to the customer (not a preview, docs/api.md), a private note. Only a
socket with that conversation open shows those, and a note also the agents it
mentions; a conversation opened later is read whole through the API. At 200 agents
that is two frames of every hand-over's five not written 200 times (docs/benchmarks.md).

Watching sockets (staff, supervisors) and catch-ups (`?after`) get everything: they
are few, and a replay must not depend on what was open while the socket was away.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Audience:
    """An event that only the sockets viewing `conversation_id` need, and `agents`
    (usernames) wherever they are."""

    conversation_id: int | None
    agents: frozenset[str] = frozenset()


def audience_of(event: dict) -> Audience | None:
    """None: every socket needs it."""
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


def reaches(audience: Audience | None, *, viewing: int | None, username: str) -> bool:
    return (
        audience is None
        or (viewing is not None and viewing == audience.conversation_id)
        or username in audience.agents
    )
