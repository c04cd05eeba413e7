"""The agents' live inbox socket (docs/websocket.md): parses frames, relays events.

Authentication comes from the session (AuthMiddlewareStack) and the origin check from
`handoff.web.origins` in asgi.py; here only agents are let in, and staff and
supervisors as watchers (the supervisor view): a watcher gets every event but has no
presence (never online, never assigned) and sends no viewing or typing. Every rule about what
happened, and about who may stay connected (`services.revocation`), lives in the
services; events come from the process's hub (`live/hub.py`), in number order and
already encoded. This module only decides what this one socket has already sent, so
that its client sees every event number once and in order, and stops sending the
moment the feed says its agent's access changed and the re-check says it ended.
"""

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from handoff.live import presence
from handoff.live.events import latest_seq
from handoff.live.feed import CatchUp, catch_up
from handoff.live.hub import Batch, Hub
from handoff.rules.agents import is_agent, may_watch
from handoff.rules.event_audience import EVERYTHING, LISTINGS, Audience, reaches
from handoff.rules.queue_counts import DeskCounts, counts_for
from handoff.selectors.agents import team_names
from handoff.selectors.conversations import conversation_exists
from handoff.services import assignment, revocation
from handoff.telemetry.metrics import WEBSOCKET_CONNECTIONS

logger = logging.getLogger(__name__)

CLOSE_ANONYMOUS = 4401
CLOSE_NOT_AN_AGENT = 4403
CLOSE_SIGNED_OUT = 4410  # access ended while connected: the page must not reconnect
CLOSE_SERVER_ERROR = 1011
TYPING_INTERVAL = 1.0  # seconds; clients send at most every 2 s, faster ones are dropped

_is_agent = database_sync_to_async(is_agent)
_may_watch = database_sync_to_async(may_watch)
_catch_up = database_sync_to_async(catch_up)
_latest = database_sync_to_async(latest_seq)
_heartbeat = database_sync_to_async(presence.heartbeat)
_socket_closed = database_sync_to_async(presence.socket_closed)
_socket_may_stay = database_sync_to_async(revocation.socket_may_stay)
_conversation_exists = database_sync_to_async(conversation_exists)
KNOWN_CONVERSATIONS = 500  # per socket: ids checked once, then trusted
# A socket whose events wait longer than this many (its drain stuck behind a slow
# access check, say) is resynced instead of queueing without end.
MAX_WAITING = 1000
RESYNC = "_resync"  # markers queued in turn with the events, never sent as they are
HOLD_EXPIRED = "_hold_expired"


@database_sync_to_async
def _open(
    user, channel_name: str, session_key: str | None, *, as_agent: bool
) -> tuple[int, list[str], bool, frozenset[str] | None]:
    # Presence first, then the newest number: the agent's own "online" event is then
    # included in the hello's seq and not sent to it again. Access is checked after
    # that number is read: a revocation numbered at or below it has committed and is
    # seen by this check; one numbered above it reaches the socket through the feed.
    agent_id = user.pk
    if as_agent:
        presence.socket_opened(agent_id, channel_name)
        assignment.wake_assigner()  # an agent who came online may take a waiting chat
    seq = latest_seq()
    return (
        seq,
        presence.online_usernames(),
        revocation.socket_may_stay(agent_id=agent_id, session_key=session_key, as_agent=as_agent),
        # Whose waiting queues the agent sees, as the page read them: staff see every
        # team's (and a watcher is sent everything). A change of teams applies from
        # the next page load, there as here.
        None if user.is_staff or not as_agent else frozenset(team_names(user)),
    )


class FrameError(ValueError):
    """A client frame that the contract does not allow; answered, never fatal."""


@dataclass(frozen=True)
class Frame:
    type: str
    conversation_id: int | None = None
    listing: str = EVERYTHING


def parse_frame(text: str | None) -> Frame:
    if text is None:
        raise FrameError("frames must be JSON text")
    try:
        content = json.loads(text)
    except ValueError:
        raise FrameError("frames must be JSON text") from None
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise FrameError("a frame is a JSON object with a string 'type'")
    kind = content["type"]
    if kind == "ping":
        return Frame("ping")
    if kind == "listing":
        listing = content.get("queue")
        if listing not in LISTINGS:
            raise FrameError(f"'queue' must be one of {', '.join(sorted(LISTINGS))}")
        return Frame(kind, listing=listing)
    if kind in ("viewing", "typing"):
        if "conversation_id" not in content:
            raise FrameError(f"'{kind}' needs 'conversation_id'")
        conversation_id = content["conversation_id"]
        if conversation_id is None and kind == "viewing":
            return Frame(kind, None)
        if type(conversation_id) is not int or conversation_id < 1:
            allowed = "a conversation id or null" if kind == "viewing" else "a conversation id"
            raise FrameError(f"'conversation_id' must be {allowed}")
        return Frame(kind, conversation_id)
    raise FrameError(f"unknown frame type {kind[:40]!r}")


def parse_after(query_string: bytes) -> tuple[bool, int | None]:
    """(asked, number): whether `?after=` was given, and its value when it is valid."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values:
        return False, None
    return True, _whole_number(values[-1])


def _whole_number(value: str) -> int | None:
    """ASCII digits only: `str.isdigit` also takes "²", which `int` refuses."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def parse_listing(query_string: bytes) -> str:
    """`?listing=<queue>`: the list the page shows as it connects; anything else, or
    nothing, is every list (all row events, as for a client that never says)."""
    values = parse_qs(query_string.decode("latin-1")).get("listing")
    return values[-1] if values and values[-1] in LISTINGS else EVERYTHING


def parse_viewing(query_string: bytes) -> int | None:
    """`?viewing=<id>`: the conversation the reconnecting page has open, so that the
    events only its viewers need reach it from the first one; anything else is none."""
    values = parse_qs(query_string.decode("latin-1")).get("viewing")
    number = _whole_number(values[-1]) if values else None
    return number if number else None


class InboxConsumer(AsyncJsonWebsocketConsumer):
    agent_id: int | None = None
    username = ""
    session_key: str | None = None
    joined = False
    as_agent = True  # False: a watcher (staff or supervisor), see the module docstring
    present = False
    counted = False  # in /metrics' open-websocket gauge
    signed_out = False  # access ended: nothing more leaves this socket
    last_sent = 0  # the highest event number this socket has sent (or hello announced)
    access_checked = 0  # access.changed events up to this number are already accounted for
    viewing: int | None = None  # announced to the other agents (it exists)
    packs = False  # the page reads a frame that is a JSON array as its events in turn
    wants_counts = False  # the page shows the tabs' counts from this socket (`?counts=1`)
    _counts_sent: dict[str, int] | None = None
    # What the page has open, as it said (`viewing`, or `?viewing=` on connecting):
    # the events only its viewers need are sent here too.
    open_conversation: int | None = None
    # The list the page shows (`listing`, or `?listing=`): the row events of other
    # lists are left out, but those of the agent's own and waiting conversations.
    listing = EVERYTHING
    teams: frozenset[str] | None = None  # the agent's, for their waiting queues; None: all
    _typing: tuple[int, float] | None = None
    left = False  # out of the hub: nothing more is handed to this socket
    hub: Hub | None = None
    # Events held back until the hello and any replay are sent (then sent, in order).
    _held: list[dict] | None = None
    _queue: deque  # events waiting for those before them (`_drain` sends them)
    _drain_task: asyncio.Task | None = None
    _replay_task: asyncio.Task | None = None
    # Events held while a change made outside a transaction commits (revocation.save_begins).
    _access_hold: list[dict] | None = None
    _pending_changes = 0
    _hold_timer: asyncio.Task | None = None
    _known: set[int]

    async def connect(self) -> None:
        # Accepted before any refusal: a close code only reaches the browser on an
        # open socket (a refused handshake is a bare HTTP 403).
        await self.accept()
        self._known = set()
        self._queue = deque()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_ANONYMOUS)
            return
        self.as_agent = await _is_agent(user)
        if not self.as_agent and not await _may_watch(user):
            await self.close(code=CLOSE_NOT_AN_AGENT)
            return
        self.agent_id, self.username = user.pk, user.get_username()
        WEBSOCKET_CONNECTIONS.inc()
        self.counted = True
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        # Join before reading the newest number: an event committed after that read
        # is then certain to reach this socket live. Until the hello is out, the hub's
        # events wait.
        query = self.scope.get("query_string", b"")
        self.open_conversation = parse_viewing(query)
        self.listing = parse_listing(query)
        asked_for = parse_qs(query.decode("latin-1"))
        self.packs = asked_for.get("pack") == ["1"]
        self.wants_counts = self.as_agent and asked_for.get("counts") == ["1"]
        self._held = []
        self.hub = await Hub.join(self.channel_layer, self.channel_name, self)
        self.joined = True
        seq, online, allowed, self.teams = await _open(
            user, self.channel_name, self.session_key, as_agent=self.as_agent
        )
        self.present = self.as_agent
        self.access_checked = seq
        if not allowed:
            await self._sign_out()
            return
        await self.send_json(
            {"type": "hello", "seq": seq, "agent": self.username, "online": online}
        )
        self.last_sent = seq
        asked, after = parse_after(self.scope.get("query_string", b""))
        if asked:
            if after is None:
                await self._send_error("'after' must be a whole number: resyncing")
            else:
                self.last_sent = after
            self._replay_task = asyncio.create_task(self._replay(after))
        else:
            await self._send_held()

    async def _replay(self, after: int | None) -> None:
        try:
            result = (
                await _catch_up(after) if after is not None else CatchUp([], await _latest(), True)
            )
            if result.resync:
                await self.send_json({"type": "resync", "seq": result.latest})
            else:
                for event in result.events:
                    if event["seq"] > self.last_sent:
                        await self._send_event(event)
            if self.signed_out:
                return
            self.last_sent = result.latest
            await self.send_json({"type": "caught_up", "seq": self.last_sent})
            await self._send_held()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Could not catch an inbox socket up")
            await self.close(code=CLOSE_SERVER_ERROR)

    async def _send_held(self) -> None:
        while self._held:
            await self._deliver(self._held.pop(0))
        self._held = None  # no await since the last check: nothing can be stranded

    async def hub_deliver(self, batch: Batch) -> None:
        """The hub's hand-over (live/hub.py): every event in number order, once, with
        its JSON text. The usual case is written out at once, as one packed frame
        when the page reads those (`?pack=1`), leaving out what only the sockets with
        another conversation open need (`rules.event_audience`); anything that has
        to wait (the hello, a replay, an access change, events already waiting) goes
        through `_deliver` in turn, and is sent whoever it is for: a superset never
        hurts a client."""
        if self.signed_out or self.left:
            return
        events = batch.events
        if (
            not self.packs
            or len(events) == 1
            or self.agent_id in batch.access_agents
            or self._held is not None
            or self._queue
            or self._drain_task is not None
            or self._access_hold is not None
        ):
            for event, text, audience in zip(events, batch.texts, batch.audiences, strict=True):
                await self._offer(event, text, audience)
            return
        chosen = []
        last = self.last_sent
        for index, event in enumerate(events):
            seq = event.get("seq")
            if seq is None:
                if event.get("type") == "activity" and event.get("agent") == self.username:
                    continue  # notices are about other agents
            elif seq <= last or not self._needs(batch.audiences[index]):
                continue
            else:
                last = seq
            chosen.append(index)
        self.last_sent = last
        if len(chosen) == 1:
            await self._write(batch.texts[chosen[0]])
        elif chosen:
            await self._write(batch.packed(tuple(chosen)))

    async def _write(self, text: str) -> None:
        """A frame of the hub's. The client may have gone a moment before its
        disconnect is handled (the server refuses to write then): nothing more is
        written to it, and the other sockets are not held up."""
        try:
            await self.send(text)
        except Exception:
            if not self.left:
                logger.info(
                    "Inbox socket of agent %s closed while it was sent events", self.agent_id
                )
            self.left = True

    def _needs(self, audience: Audience | None) -> bool:
        """Whether this socket is sent an event live; a watcher is sent everything."""
        return not self.as_agent or reaches(
            audience,
            viewing=self.open_conversation,
            username=self.username,
            listing=self.listing,
            teams=self.teams,
        )

    async def _offer(self, event: dict, text: str, audience: Audience | None) -> None:
        """One event of the hub's, on its own."""
        if self.signed_out or self.left:
            return
        if self._held is not None:
            self._hold(self._held, event)
            return
        if self._queue or self._drain_task is not None:
            self._hold(self._queue, event)
            return
        seq = event.get("seq")
        if self._access_hold is None and not revocation.concerns(event, self.agent_id):
            if seq is None:
                if event.get("type") == "activity" and event.get("agent") == self.username:
                    return  # notices are about other agents
                await self._write(text)
            elif seq > self.last_sent:
                if not self._needs(audience):
                    return
                self.last_sent = seq
                await self._write(text)
            return
        self._queue.append(event)
        self._drain_task = asyncio.create_task(self._drain())

    async def hub_resync(self, seq: int, access_events: list[dict]) -> None:
        recheck = any(revocation.concerns(event, self.agent_id) for event in access_events)
        marker = {RESYNC: seq, "recheck": recheck}
        if self._held is not None:
            self._held.append(marker)
            return
        self._queue.append(marker)
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain())

    async def hub_counts(self, desk: DeskCounts) -> None:
        """This agent's tabs, when they differ from what this socket last sent: in
        turn with the events, as a notice (no number)."""
        if self.signed_out or self.left or not self.wants_counts:
            return
        counts = counts_for(desk, self.agent_id)
        if counts == self._counts_sent:
            return
        self._counts_sent = counts
        await self._notice({"type": "counts", "counts": counts})

    async def _notice(self, frame: dict) -> None:
        """A notice of this socket's own, in turn with the events before it."""
        await self._offer(frame, json.dumps(frame), None)

    def _hold(self, waiting: list | deque, event: dict) -> None:
        """Keep an event for later, but never more than MAX_WAITING: past that the
        socket has fallen behind for good, and the client reloads instead (a resync
        at the newest number, checking access again if a change was among those
        dropped)."""
        waiting.append(event)
        if len(waiting) <= MAX_WAITING:
            return
        seqs = [item.get("seq") or item.get(RESYNC) or 0 for item in waiting]
        recheck = any(
            revocation.concerns(item, self.agent_id) or item.get("recheck") for item in waiting
        )
        waiting.clear()
        waiting.append({RESYNC: max(seqs), "recheck": recheck})
        logger.warning("Inbox socket of agent %s fell behind: resyncing it", self.agent_id)

    async def _drain(self) -> None:
        try:
            while self._queue and not self.signed_out:
                await self._deliver(self._queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Could not send events to an inbox socket")
            await self.close(code=CLOSE_SERVER_ERROR)
        finally:
            self._drain_task = None

    async def _deliver(self, event: dict) -> None:
        if RESYNC in event:
            await self._resync(event[RESYNC], recheck=event["recheck"])
            return
        if HOLD_EXPIRED in event:
            await self._access_hold_expired()
            return
        seq = event.get("seq")
        if seq is None:
            if self._access_hold is not None:
                return  # a notice is not worth keeping while access is in doubt
            if event.get("type") == "activity" and event.get("agent") == self.username:
                return  # notices are about other agents
            await self.send_json(event)
            return
        if seq <= self.last_sent:
            return
        await self._send_event(event)
        self.last_sent = seq

    async def _resync(self, seq: int, *, recheck: bool) -> None:
        """The events up to `seq` are not coming: the client reloads. They were never
        sent through `_send_event`, so an access change among them is asked about now
        rather than at the next heartbeat."""
        if seq <= self.last_sent:
            return
        await self.send_json({"type": "resync", "seq": seq})
        self.last_sent = seq
        if recheck and seq > self.access_checked:
            self.access_checked = seq
            await self._may_stay()

    async def _send_event(self, event: dict) -> None:
        """Every numbered event leaves through here, in order of its number; an
        access change for this agent is acted on before anything numbered after it."""
        if self.signed_out:
            return
        if event["seq"] > self.access_checked and revocation.concerns(event, self.agent_id):
            self.access_checked = event["seq"]
            if not await self._may_stay():
                return
            if event.get("pending"):
                self._pending_changes += 1
                self._hold_for_access()
            elif self._access_hold is not None:
                self._pending_changes = max(0, self._pending_changes - 1)
                if not self._pending_changes:
                    await self._release_hold()
        if self._access_hold is not None and not revocation.concerns(event, self.agent_id):
            self._access_hold.append(event)
            return
        await self.send_json(event)

    def _hold_for_access(self) -> None:
        if self._access_hold is None:
            self._access_hold = []
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        self._hold_timer = asyncio.create_task(self._hold_expires())

    async def _hold_expires(self) -> None:
        await asyncio.sleep(revocation.ACCESS_PENDING_SECONDS)
        # In turn with the events: it may release those held.
        self._queue.append({HOLD_EXPIRED: True})
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain())

    async def _access_hold_expired(self) -> None:
        if self.signed_out or self._access_hold is None:
            return
        self._pending_changes = 0
        if await self._may_stay():
            await self._release_hold()

    async def _release_hold(self) -> None:
        held, self._access_hold = self._access_hold or [], None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        for event in held:
            await self._send_event(event)

    async def _may_stay(self) -> bool:
        """Ask the service again; sign the socket out when the answer is no."""
        if await _socket_may_stay(
            agent_id=self.agent_id, session_key=self.session_key, as_agent=self.as_agent
        ):
            return True
        await self._sign_out()
        return False

    async def _sign_out(self) -> None:
        self.signed_out = True
        self._access_hold = None
        await self.close(code=CLOSE_SIGNED_OUT)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if not self.joined or self.signed_out:
            return
        try:
            frame = parse_frame(text_data)
        except FrameError as error:
            await self._send_error(str(error))
            return
        if frame.type == "ping":
            # The heartbeat is also when access is asked again: it catches the
            # changes that no event announces (docs/websocket.md, "Losing access").
            if not await self._may_stay():
                return
            if self.present:
                await _heartbeat(self.channel_name, agent_id=self.agent_id)
            await self.send_json({"type": "pong"})
            return
        if not self.as_agent:
            await self._send_error(f"a watching socket does not send '{frame.type}'")
            return
        if frame.type == "listing":
            # Before the page reads the list through the API (it says so first), so
            # that the row events committed after that read come here.
            self.listing = frame.listing
            return
        if frame.type == "viewing":
            # At once, before the check below waits for the database: the page reads
            # the conversation through the API right after saying so, and an event
            # committed after that read must come here.
            self.open_conversation = frame.conversation_id
        if frame.conversation_id is not None and not await self._exists(frame.conversation_id):
            await self._send_error(f"there is no conversation {frame.conversation_id}")
            return
        if frame.type == "viewing":
            presence.announce_viewing(
                agent=self.username, previous=self.viewing, current=frame.conversation_id
            )
            self.viewing = frame.conversation_id
        elif frame.type == "typing":
            now = time.monotonic()
            last = self._typing
            if last and last[0] == frame.conversation_id and now - last[1] < TYPING_INTERVAL:
                return
            self._typing = (frame.conversation_id, now)
            presence.announce_typing(agent=self.username, conversation_id=frame.conversation_id)

    async def _exists(self, conversation_id: int) -> bool:
        """Whether a conversation exists, asked once per id per socket: a page sends
        `typing` every two seconds, and a query each time would be wasted."""
        if conversation_id in self._known:
            return True
        if not await _conversation_exists(conversation_id):
            return False
        if len(self._known) >= KNOWN_CONVERSATIONS:
            self._known.clear()
        self._known.add(conversation_id)
        return True

    async def _send_error(self, error: str) -> None:
        await self.send_json({"type": "error", "error": error})

    async def disconnect(self, code: int) -> None:
        if self.counted:
            WEBSOCKET_CONNECTIONS.dec()
            self.counted = False
        if self._replay_task is not None:
            self._replay_task.cancel()
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        if self._drain_task is not None:
            self._drain_task.cancel()
        if self.hub is not None:
            self.left = True
            self.hub.leave(self.channel_name)
        if self.viewing is not None:
            presence.announce_viewing(agent=self.username, previous=self.viewing, current=None)
            self.viewing = None
        if self.present:
            await _socket_closed(self.agent_id, self.channel_name)
