"""Where each conversation's row was when this process last handed out an event about
it: the audience of the next event (rules/event_audience.py) includes the lists the row
leaves, not only those it enters.

One per hub. The hub hands events out in number order, every one exactly once, so
this memory follows the feed: a transfer from team A to team B reaches A's agents
(their Waiting list drops the row) as well as B's. A conversation it does not know
(the process started after its last event, or forgot it for room, or a resync skipped
events) has its event sent to every socket.
"""

from collections import OrderedDict

from handoff.rules.event_audience import Audience, Place, place_of, transcript_audience

# Conversations remembered at most (the least recently changed are forgotten first):
# about 200 bytes each.
REMEMBERED = 50_000
OPENED = "opened"


class RowPlaces:
    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._places: OrderedDict[int, Place] = OrderedDict()

    def __len__(self) -> int:
        return len(self._places)

    def forget_all(self) -> None:
        """After events were skipped (a resync): any place known may be stale."""
        self._places.clear()

    def audience(self, event: dict) -> Audience | None:
        """Who needs `event` live (None: every socket); call in number order."""
        narrowed = transcript_audience(event)
        if narrowed is not None:
            return narrowed
        kind = event.get("type")
        if kind == "message.created":
            conversation_id = (event.get("message") or {}).get("conversation_id")
            place = self._places.get(conversation_id)
            return None if place is None else Audience(conversation_id, places=(place,))
        if kind == "conversation.updated":
            return self._moved(event)
        if kind == "conversation.erased":
            for conversation_id in event.get("conversation_ids") or ():
                self._places.pop(conversation_id, None)
        return None

    def _moved(self, event: dict) -> Audience | None:
        conversation = event.get("conversation") or {}
        conversation_id = conversation.get("id")
        if not isinstance(conversation_id, int):
            return None
        now = place_of(conversation)
        before = self._places.pop(conversation_id, None)
        self._places[conversation_id] = now
        if len(self._places) > self.limit:
            self._places.popitem(last=False)
        if before is None:
            # A conversation that was just opened was in no list before.
            if ((event.get("event") or {}).get("kind")) != OPENED:
                return None
            return Audience(conversation_id, places=(now,))
        return Audience(conversation_id, places=(before, now) if before != now else (now,))
