"""GET /healthz: is this process able to serve (database and channel layer answer)?"""

import asyncio
import contextlib
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


async def _forget(layer, channel: str) -> None:
    """Drop the check's channel as a closing socket's is dropped: the Redis layer
    unsubscribes a channel when a receive on it is cancelled, and would otherwise keep
    one subscription per check for the life of the process."""
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    receiving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await receiving


async def _channel_layer_ok() -> bool:
    """Round-trip a message through the layer, so a dead Redis shows up here."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        channel = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.send(channel, {"type": "healthz"}), LAYER_TIMEOUT_SECONDS)
            received = await asyncio.wait_for(layer.receive(channel), LAYER_TIMEOUT_SECONDS)
        finally:
            await _forget(layer, channel)
        return received.get("type") == "healthz"
    except Exception:
        logger.exception("Health check: channel layer unavailable")
        return False
