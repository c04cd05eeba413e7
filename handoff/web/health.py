"""GET /healthz: is this process able to serve (database and channel layer answer)?"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

LAYER_TIMEOUT_SECONDS = 2.0


async def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": await _database_ok(), "channel_layer": await _channel_layer_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


@sync_to_async
def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("Health check: database unavailable")
        return False


async def _channel_layer_ok() -> bool:
    """Round-trip a message through the layer, so a dead Redis shows up here."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        # Channels' own prefix: the Redis layer reads every process-specific channel
        # through one list per prefix, and while a socket's receive holds that read, a
        # channel of another prefix waits its turn (up to 5 s, past our timeout).
        channel = await layer.new_channel()
        await asyncio.wait_for(layer.send(channel, {"type": "healthz"}), LAYER_TIMEOUT_SECONDS)
        received = await asyncio.wait_for(layer.receive(channel), LAYER_TIMEOUT_SECONDS)
        return received.get("type") == "healthz"
    except Exception:
        logger.exception("Health check: channel layer unavailable")
        return False
