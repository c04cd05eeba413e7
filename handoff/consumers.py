"""The agents' live inbox socket: relays events, nothing more.

Authentication comes from the session (AuthMiddlewareStack) and the origin check
from AllowedHostsOriginValidator in asgi.py; here only agents are let in.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from handoff.broadcast import AGENTS_GROUP
from handoff.permissions import is_agent

_is_agent = database_sync_to_async(is_agent)


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await _is_agent(user):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(AGENTS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(AGENTS_GROUP, self.channel_name)

    async def inbox_event(self, message: dict) -> None:
        await self.send_json(message["event"])
