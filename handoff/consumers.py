"""The agents' live inbox socket (docs/websocket.md): parses frames, relays events.

Authentication comes from the session (AuthMiddlewareStack) and the origin check from
AllowedHostsOriginValidator in asgi.py; here only agents are let in. Every rule about
what happened lives in the services; this module only decides what this one socket
has already sent, so that its client sees every event number once and in order.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from handoff.broadcast import AGENTS_GROUP
from handoff.events import latest_seq
from handoff.permissions import is_agent
from handoff.services import presence
from handoff.services.event_feed import CatchUp, catch_up

logger = logging.getLogger(__name__)

CLOSE_ANONYMOUS = 4401
CLOSE_NOT_AN_AGENT = 4403
CLOSE_SERVER_ERROR = 1011
TYPING_INTERVAL = 1.0  # seconds; clients send at most every 2 s, faster ones are dropped

_is_agent = database_sync_to_async(is_agent)
_catch_up = database_sync_to_async(catch_up)
_latest = database_sync_to_async(latest_seq)
_heartbeat = database_sync_to_async(presence.heartbeat)
_socket_closed = database_sync_to_async(presence.socket_closed)


@database_sync_to_async
def _open(agent_id: int, channel_name: str) -> tuple[int, list[str]]:
    # Presence first, then the newest number: the agent's own "online" event is then
    # included in the hello's seq and not sent to it again.
    presence.socket_opened(agent_id, channel_name)
    return latest_seq(), presence.online_usernames()


class FrameError(ValueError):
    """A client frame that the contract does not allow; answered, never fatal."""


@dataclass(frozen=True)
class Frame:
    type: str
    conversation_id: int | None = None


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
    value = values[-1]
    return True, int(value) if value.isdigit() and len(value) < 19 else None


class InboxConsumer(AsyncJsonWebsocketConsumer):
    agent_id: int | None = None
    username = ""
    joined = False
    present = False
    last_sent = 0  # the highest event number this socket has sent (or hello announced)
    viewing: int | None = None
    _typing: tuple[int, float] | None = None
    _held: list[dict] | None = None  # live messages held back while a replay is read
    _replay_task: asyncio.Task | None = None

    async def connect(self) -> None:
        # Accepted before any refusal: a close code only reaches the browser on an
        # open socket (a refused handshake is a bare HTTP 403).
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_ANONYMOUS)
            return
        if not await _is_agent(user):
            await self.close(code=CLOSE_NOT_AN_AGENT)
            return
        self.agent_id, self.username = user.pk, user.get_username()
        # Join before reading the newest number: an event committed after that read
        # is then certain to reach this socket live.
        await self.channel_layer.group_add(AGENTS_GROUP, self.channel_name)
        self.joined = True
        seq, online = await _open(self.agent_id, self.channel_name)
        self.present = True
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
            self._held = []
            self._replay_task = asyncio.create_task(self._replay(after))

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
                        await self.send_json(event)
            self.last_sent = result.latest
            await self.send_json({"type": "caught_up", "seq": self.last_sent})
            while self._held:
                await self._deliver(self._held.pop(0))
            self._held = None  # no await since the last check: nothing can be stranded
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Could not catch an inbox socket up")
            await self.close(code=CLOSE_SERVER_ERROR)

    async def inbox_event(self, message: dict) -> None:
        if self._held is not None:
            self._held.append(message["event"])
        else:
            await self._deliver(message["event"])

    async def _deliver(self, event: dict) -> None:
        seq = event.get("seq")
        if seq is None:
            if event.get("type") == "activity" and event.get("agent") == self.username:
                return  # notices are about other agents
            await self.send_json(event)
            return
        if seq <= self.last_sent:
            return
        if seq > self.last_sent + 1:
            # A number was skipped: its push is late (pushes from concurrent commits
            # can overtake each other) or was lost. The feed has it if it committed.
            missed = await _catch_up(self.last_sent, until=seq - 1)
            if missed.resync:
                await self.send_json({"type": "resync", "seq": seq})
                self.last_sent = seq
                return
            for earlier in missed.events:
                await self.send_json(earlier)
        await self.send_json(event)
        self.last_sent = seq

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if not self.joined:
            return
        try:
            frame = parse_frame(text_data)
        except FrameError as error:
            await self._send_error(str(error))
            return
        if frame.type == "ping":
            await _heartbeat(self.channel_name, agent_id=self.agent_id)
            await self.send_json({"type": "pong"})
        elif frame.type == "viewing":
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

    async def _send_error(self, error: str) -> None:
        await self.send_json({"type": "error", "error": error})

    async def disconnect(self, code: int) -> None:
        if self._replay_task is not None:
            self._replay_task.cancel()
        if self.joined:
            await self.channel_layer.group_discard(AGENTS_GROUP, self.channel_name)
        if self.viewing is not None:
            presence.announce_viewing(agent=self.username, previous=self.viewing, current=None)
            self.viewing = None
        if self.present:
            await _socket_closed(self.agent_id, self.channel_name)
