"""The ASGI entry point daphne serves: HTTP through Django, /ws/ through Channels.

In the default one-process setup it also starts the background workers, and it
remembers the server's event loop so those workers can reach agents' websockets
through the in-memory channel layer (see `handoff.live.broadcast`).
"""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from handoff.live.broadcast import remember_server_loop  # noqa: E402
from handoff.web.origins import SameOriginValidator  # noqa: E402
from handoff.web.request_id import RequestIdMiddleware  # noqa: E402
from handoff.web.socket_urls import websocket_urlpatterns  # noqa: E402
from handoff.workers.threads import start_embedded_workers  # noqa: E402

router = RequestIdMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)


async def application(scope, receive, send):
    remember_server_loop(asyncio.get_running_loop())
    await router(scope, receive, send)


if settings.HANDOFF_EMBEDDED_WORKERS:
    start_embedded_workers()
