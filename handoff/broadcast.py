"""Getting events to agents' websockets from any thread of any process.

The in-memory channel layer belongs to the web server's event loop, and handing it
work from a worker thread with `async_to_sync` costs a cross-loop wake-up of close to
a second; scheduling the send on the server's own loop takes milliseconds. So the
ASGI entry point remembers its loop, and everything here schedules onto it.
"""

import asyncio
import logging
from concurrent.futures import Future

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

AGENTS_GROUP = "agents"
_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


def send_to_agents(event: dict) -> None:
    """Fire-and-forget: a lost notification is repaired by the client's catch-up."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "inbox.event", "event": event}
    loop = _server_loop
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(layer.group_send(AGENTS_GROUP, message), loop)
        future.add_done_callback(_log_failure)
    elif not isinstance(layer, InMemoryChannelLayer):
        # Another process (a worker) with a shared layer such as Redis.
        try:
            async_to_sync(layer.group_send)(AGENTS_GROUP, message)
        except Exception:
            logger.exception("Could not publish an event to the agents")
    # In-memory layer and no server loop yet: no socket can be connected, so no one
    # is waiting for this event.


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("Could not publish an event to the agents", exc_info=future.exception())
