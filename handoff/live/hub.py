"""One subscription to the agents' events per web process, fanned out to its sockets.

Every agent's socket used to be a member of the channel layer's agents group, so each
event was copied, queued and dispatched once per socket, encoded to JSON once per
socket, and a socket that saw a number skipped read the feed on its own: at 200
sockets those per-socket trips were most of the event loop's time, and when the loop
fell behind every socket read the same gap from the database at once (docs/benchmarks.md,
the live phase). Here the process subscribes once (one member of the group per
process, so with Redis the fan-out spreads over the web processes), encodes each event
once, and hands it to each socket in number order; a skipped number is read from the
feed once for all of them.

The hub's promise to a socket that joined before reading the newest number (its
`hello`): every committed event numbered above it is handed over exactly once, in
order. An event above a skipped number waits briefly for the skipped one's push (two
processes' pushes cross on the way), then the skipped numbers are read from the feed
before it (the feed commits in number order, docs/websocket.md); pushes that arrive
after their number was read are dropped, and once a second the feed's newest number
is read so that a push that never comes (another process's event on the in-memory
layer, a layer that dropped one) is fetched within about two seconds, an access
change at once.

The inbox tabs' counts ride along: after events that may change one, the hub reads the
desk's counts once (at most every COUNTS_SECONDS) and hands them to every socket that
asked for them, which sends its agent's own when they changed (rules/queue_counts.py).
"""

import asyncio
import contextlib
import json
import logging
import weakref
from collections import deque
from typing import Protocol

from channels.db import database_sync_to_async

from handoff.live.broadcast import AGENTS_GROUP
from handoff.live.counts import desk_counts
from handoff.live.events import ACCESS_CHANGED, as_sent, latest_seq
from handoff.live.feed import catch_up
from handoff.live.row_places import RowPlaces
from handoff.models import InboxEvent
from handoff.rules.queue_counts import DeskCounts, changes_counts

logger = logging.getLogger(__name__)

FEED_WATCH_SECONDS = 1.0
# Channels' list-based layers forget a group's member after a day (their group
# expiry): joining again now and then keeps a long-lived process subscribed on any.
GROUP_RENEW_SECONDS = 3600.0
_FILL = "hub.fill"  # the feed watch's request, queued in turn with the pushes
MAX_PACK = 100  # events in one packed frame at most
# The counts are read at most this often: at 20 hand-overs a second, two reads a second
# per process instead of one request per agent per change.
COUNTS_SECONDS = 0.5
# How long events above a skipped number wait for its push before the feed is read.
REORDER_SECONDS = 0.05


class Batch:
    """Events handed over together, in number order, each encoded once for every
    socket; and their packed frames (a JSON array of some of them), each built once
    for every socket that is sent that same selection."""

    def __init__(self, events: list[dict], places: RowPlaces) -> None:
        self.events = events
        self.texts = [encode(event) for event in events]
        self.audiences = [places.audience(event) for event in events]
        # Whose access may have changed: their sockets take these events one by one.
        self.access_agents = {
            agent_id
            for event in events
            if event.get("type") == ACCESS_CHANGED
            for agent_id in event.get("agent_ids") or ()
        }
        self._packed: dict[tuple[int, ...], str] = {}

    def packed(self, chosen: tuple[int, ...]) -> str:
        """One frame of the events at these positions."""
        text = self._packed.get(chosen)
        if text is None:
            text = self._packed[chosen] = "[" + ",".join(self.texts[i] for i in chosen) + "]"
        return text


class Subscriber(Protocol):
    """A socket as the hub sees it (web/consumers.py's InboxConsumer)."""

    async def hub_deliver(self, batch: Batch) -> None:
        """Events (and notices without `seq`) in number order, with their JSON texts
        and who needs each live (`rules.event_audience`)."""

    async def hub_resync(self, seq: int, access_events: list[dict]) -> None:
        """The events up to `seq` cannot be replayed (too many, or pruned): the client
        must reload. `access_events` are the access changes among them."""

    wants_counts: bool  # the page shows the tabs' counts from the socket (`?counts=1`)

    async def hub_counts(self, desk: DeskCounts) -> None:
        """The desk's counts, read after events that may have changed them."""


def encode(event: dict) -> str:
    """The frame's text, as Channels' `send_json` would write it."""
    return json.dumps(event)


_latest = database_sync_to_async(latest_seq)
_desk_counts = database_sync_to_async(desk_counts)
_catch_up = database_sync_to_async(catch_up)


@database_sync_to_async
def _feed_watch_read(after: int) -> tuple[int, bool]:
    """The feed's newest number, and whether an access change is numbered above `after`
    (read first: every event at or below the newest has committed)."""
    newest = latest_seq()
    changed = InboxEvent.objects.filter(pk__gt=after, pk__lte=newest, kind=ACCESS_CHANGED)
    return newest, changed.exists()


@database_sync_to_async
def _access_changes(after: int, until: int) -> list[dict]:
    rows = InboxEvent.objects.filter(pk__gt=after, pk__lte=until, kind=ACCESS_CHANGED)
    return [as_sent(row) for row in rows.order_by("pk")]


class Hub:
    """This event loop's subscription; see the module docstring."""

    _per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel = ""
        self.subscribers: dict[str, Subscriber] = {}
        self._fan: tuple[Subscriber, ...] = ()
        self.seq = 0  # every committed event numbered up to this has been handed over
        self.pushes: deque = deque()
        # Pushed events above a skipped number, by number, and when the first came.
        self.held: dict[int, dict] = {}
        self.held_since: float | None = None
        # Where each conversation's row was, for the next event's audience.
        self.places = RowPlaces()
        self.wake = asyncio.Event()
        self.counts_due = asyncio.Event()
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.tasks: list[asyncio.Task] = []
        self.stopped = False

    @classmethod
    async def join(cls, layer, name: str, subscriber: Subscriber) -> "Hub":
        """Subscribe a socket; returns once the hub hears every event committed from
        now on, so a number read after this returns is a safe place to start."""
        loop = asyncio.get_running_loop()
        hub = cls._per_loop.get(loop)
        if hub is None or hub.stopped:
            hub = cls._per_loop[loop] = cls(layer)
            hub.tasks.append(loop.create_task(hub._start()))
        hub.subscribers[name] = subscriber
        hub._fan = tuple(hub.subscribers.values())
        try:
            await asyncio.shield(hub.ready)
        except BaseException:
            hub.leave(name)
            raise
        return hub

    def leave(self, name: str) -> None:
        if self.subscribers.pop(name, None) is not None:
            self._fan = tuple(self.subscribers.values())
        if not self.subscribers and not self.stopped:
            self._stop()

    def _stop(self) -> None:
        """The last socket left: nothing to hear for. A socket that opens later starts
        a new hub, which reads the newest number again."""
        self.stopped = True
        for task in self.tasks:
            task.cancel()
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("the live hub stopped before it started"))
            self.ready.exception()  # retrieved: no "never retrieved" warning
        if self.channel:
            asyncio.get_running_loop().create_task(self._unsubscribe(self.channel))

    async def _unsubscribe(self, channel: str) -> None:
        try:
            await self.layer.group_discard(AGENTS_GROUP, channel)
        except Exception:
            logger.exception("Could not leave the agents group")

    async def _start(self) -> None:
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(AGENTS_GROUP, self.channel)
            # After joining the group: every event above this number is pushed to us.
            self.seq = await _latest()
        except BaseException as error:
            if not self.ready.done():
                self.ready.set_exception(error)
            self.stopped = True
            if isinstance(error, Exception):
                logger.exception("Could not start the live hub")
                return
            raise
        if self.stopped:
            return
        self.ready.set_result(None)
        loop = asyncio.get_running_loop()
        self.tasks += [
            loop.create_task(self._hear()),
            loop.create_task(self._hand_over()),
            loop.create_task(self._watch_feed()),
            loop.create_task(self._push_counts()),
        ]

    async def _hear(self) -> None:
        """Take every push off the layer at once (its queue holds at most 100 before it
        drops): handing over, which may wait for the feed, happens in `_hand_over`."""
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not receive from the channel layer")
                await asyncio.sleep(FEED_WATCH_SECONDS)
                continue
            self.pushes.append(message)
            self.wake.set()

    async def _hand_over(self) -> None:
        """Whatever piled up while the sockets were being written to leaves together:
        a socket that reads packed frames gets it as one (at most MAX_PACK events),
        so the busier the process, the fewer frames per event.

        An event above a skipped number is held for up to REORDER_SECONDS: two
        processes' events reach the layer in any order even though they committed in
        number order, and the missing push is usually a few milliseconds behind. Only
        then is the feed read (one read that the whole hand-over waits for)."""
        loop = asyncio.get_running_loop()
        while True:
            if self.held_since is None:
                await self.wake.wait()
            elif (remaining := self.held_since + REORDER_SECONDS - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), remaining)
            self.wake.clear()
            ready: list[dict] = []
            try:
                if self.held_since is not None and loop.time() >= self.held_since + REORDER_SECONDS:
                    await self._fill(min(self.held) - 1, ready)
                    self._release_held(ready)
                while self.pushes or ready:
                    while self.pushes and len(ready) < MAX_PACK:
                        await self._take(self.pushes.popleft(), ready)
                    await self._fan_out(ready)
                    ready = []
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not hand events to the inbox sockets")
                # What was taken in order before the failure (a feed read that failed
                # behind it) is still the sockets': the hub's number has passed it, so
                # no later read would bring it.
                await self._hand_over_anyway(ready)
                # Held events would have the feed read again at once: not in a loop
                # while the database is away.
                await asyncio.sleep(FEED_WATCH_SECONDS)

    async def _hand_over_anyway(self, ready: list[dict]) -> None:
        try:
            await self._fan_out(ready)
        except Exception:
            logger.exception("Could not hand events to the inbox sockets, again")

    async def _take(self, message: dict, ready: list[dict]) -> None:
        """Add the message's events to `ready` in number order; one above a skipped
        number is held until the number comes (see `_hand_over`)."""
        kind = message.get("type")
        if kind == _FILL:
            if message["until"] > self.seq:
                logger.warning(
                    "The inbox sockets were missing events %s to %s a second after they "
                    "committed (or an access change): sent from the feed",
                    self.seq + 1,
                    message["until"],
                )
                await self._fill(message["until"], ready)
                self._release_held(ready)
            return
        if kind == "inbox.events":
            events = message["events"]
        elif kind == "inbox.event":
            events = [message["event"]]
        else:
            return
        for event in events:
            seq = event.get("seq")
            if seq is None:
                ready.append(event)
            elif seq == self.seq + 1:
                ready.append(event)
                self.seq = seq
                self._release_held(ready)
            elif seq > self.seq:
                self.held[seq] = event
                if self.held_since is None:
                    self.held_since = asyncio.get_running_loop().time()
            # else: read from the feed already, a late push

    def _release_held(self, ready: list[dict]) -> None:
        """Move the held events that now follow on without a gap to `ready`."""
        if not self.held:
            return
        for seq in [seq for seq in self.held if seq <= self.seq]:
            del self.held[seq]
        while self.seq + 1 in self.held:
            self.seq += 1
            ready.append(self.held.pop(self.seq))
        if not self.held:
            self.held_since = None
        elif self.seq + 1 not in self.held:
            # Another gap further on: its wait starts now.
            self.held_since = asyncio.get_running_loop().time()

    async def _fill(self, until: int, ready: list[dict]) -> None:
        """Add every committed event numbered up to `until` that was not pushed (yet):
        one read of the feed for every socket of the process."""
        missed = await _catch_up(self.seq, until=until)
        if missed.resync:
            access = await _access_changes(self.seq, missed.latest)
            await self._fan_out(ready)  # what came before the gap, first
            ready.clear()
            self.seq = max(self.seq, missed.latest)
            self.places.forget_all()  # the skipped events moved rows it cannot know
            for subscriber in self._fan:
                try:
                    await subscriber.hub_resync(self.seq, access)
                except Exception:
                    logger.exception("Could not resync an inbox socket")
            return
        ready.extend(missed.events)
        self.seq = max(self.seq, missed.latest)

    async def _fan_out(self, events: list[dict]) -> None:
        if not events:
            return
        batch = Batch(events, self.places)
        for subscriber in self._fan:
            try:
                await subscriber.hub_deliver(batch)
            except Exception:
                logger.exception("Could not send events to an inbox socket")
        if any(changes_counts(event) for event in events):
            self.counts_due.set()

    async def _push_counts(self) -> None:
        """After events that may change a count: one read for every socket that shows
        them, then a rest, so that a burst of changes costs a read per COUNTS_SECONDS.
        Read after the events were handed over, so the counts are never older than
        what the socket was sent before them."""
        while True:
            await self.counts_due.wait()
            self.counts_due.clear()
            takers = [subscriber for subscriber in self._fan if subscriber.wants_counts]
            if not takers:
                continue
            try:
                desk = await _desk_counts()
            except Exception:
                logger.exception("Could not read the inbox counts")
            else:
                for subscriber in takers:
                    try:
                        await subscriber.hub_counts(desk)
                    except Exception:
                        logger.exception("Could not send the counts to an inbox socket")
            await asyncio.sleep(COUNTS_SECONDS)

    async def _watch_feed(self) -> None:
        """Once a second: fetch what committed a second ago and was never pushed, and
        an access change at once (a revoked agent's socket must not wait)."""
        committed_before = self.seq
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(FEED_WATCH_SECONDS)
            try:
                newest, access_changed = await _feed_watch_read(self.seq)
                until = newest if access_changed else committed_before
                committed_before = newest
                if until > self.seq:
                    self.pushes.append({"type": _FILL, "until": until})
                    self.wake.set()
                if loop.time() - renewed > GROUP_RENEW_SECONDS:
                    await self.layer.group_add(AGENTS_GROUP, self.channel)
                    renewed = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not read the event feed's newest number")
