"""Getting events to agents' websockets from any thread of any process.

The in-memory channel layer belongs to the web server's event loop, and handing it
work from a worker thread with `async_to_sync` costs a cross-loop wake-up of close to
a second; scheduling the send on the server's own loop takes milliseconds. So the
ASGI entry point remembers its loop, and everything here schedules onto it.
"""

import asyncio
import logging
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

AGENTS_GROUP = "agents"
_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


def start_publisher_loop() -> asyncio.AbstractEventLoop:
    """Give a process without a web server (a `worker`) a loop of its own to publish on.

    Every send then reuses the layer's connections on that loop, instead of
    `async_to_sync` making a new loop, and Redis connections with it, per event.
    """
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="agent-events", daemon=True).start()
    remember_server_loop(loop)
    return loop


def send_to_agents(event: dict) -> None:
    """Fire-and-forget: a lost notification is repaired by the client's catch-up.

    Callable from any thread. Events leave in the order they were handed over: a
    Redis layer's sends are network round trips, and sent side by side they can
    overtake each other (a "left" before its "viewing").
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "inbox.event", "event": event}
    loop = _server_loop
    if loop is not None and loop.is_running():
        if _on_loop(loop):
            _enqueue(loop, message)
        else:
            loop.call_soon_threadsafe(_enqueue, loop, message)
    elif not isinstance(layer, InMemoryChannelLayer):
        # A process with a shared layer but no loop of its own (a management command).
        _send_now(layer, message)
    # In-memory layer and no server loop yet: no socket can be connected, so no one
    # is waiting for this event.


def _send_now(layer, message: dict) -> None:
    """Send from this thread and return when the layer has it, so a short-lived
    command's events are out before it exits. A thread that runs an event loop of its
    own (a caller embedding us in async code, a test driving a browser) may not block
    on another loop there (`async_to_sync` refuses), so the send goes from a thread of
    its own, which this one waits for."""

    def send() -> None:
        try:
            async_to_sync(layer.group_send)(AGENTS_GROUP, message)
        except Exception:
            logger.exception("Could not publish an event to the agents")

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        send()
        return
    sender = threading.Thread(target=send, name="agent-event-send")
    sender.start()
    sender.join(SEND_WAIT_SECONDS)


SEND_WAIT_SECONDS = 5.0


@dataclass
class _Outbox:
    """The events waiting to leave one loop, and the one task sending them in turn."""

    pending: deque = field(default_factory=deque)
    sender: asyncio.Task | None = None


_outboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox]" = (
    weakref.WeakKeyDictionary()
)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _enqueue(loop: asyncio.AbstractEventLoop, message: dict) -> None:
    """On the loop's thread: queue the event, and start a sender if none is running.

    The sender ends when the queue is empty, so no task outlives the work (a loop
    that closes leaves nothing pending behind).
    """
    outbox = _outboxes.setdefault(loop, _Outbox())
    outbox.pending.append(message)
    if outbox.sender is None or outbox.sender.done():
        outbox.sender = loop.create_task(_send_in_order(outbox))


# At most this many events leave in one message (a Redis layer's message stays small).
MAX_BATCH = 100


async def _send_in_order(outbox: _Outbox) -> None:
    """Send the queued events in order: what piled up while the previous send was in
    flight leaves together, as one message of several events (`inbox.events`).

    Under load that is most of them (a hand-over's escalated, message and assigned
    events commit together): one group send, and one wake-up of each socket, instead
    of one per event, so the events of one change reach every socket together."""
    while outbox.pending:
        batch = []
        while outbox.pending and len(batch) < MAX_BATCH:
            batch.append(outbox.pending.popleft())
        message = (
            batch[0]
            if len(batch) == 1
            else {"type": "inbox.events", "events": [item["event"] for item in batch]}
        )
        try:
            await get_channel_layer().group_send(AGENTS_GROUP, message)
        except Exception:
            logger.exception("Could not publish an event to the agents")
