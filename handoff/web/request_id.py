"""A request id for every HTTP request and websocket connection, on the event loop.

The id is the incoming `X-Request-ID` when it is a sane token (a proxy's, such as
nginx's `$request_id`), else a fresh one; it is set in the log context for everything
the request runs (handoff.telemetry.log_context) and sent back in the response's
`X-Request-ID`, so a client or a proxy can quote it when something went wrong.

An ASGI wrapper around the whole application rather than a Django middleware: Django
logs a 4xx or 5xx answer ("Not Found: /x", django.request) after its middleware chain
has returned, and websockets never pass that chain; here both are inside. It runs on
the loop and does no I/O. It never decides anything about a request.
"""

from handoff.telemetry import log_context

HEADER = b"x-request-id"


def _incoming(scope: dict) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("latin-1")
    return None


class RequestIdMiddleware:
    """Wraps an ASGI application; lifespan and other scopes pass through untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = log_context.request_id_from(_incoming(scope))

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        with log_context.serving(request_id):
            await self.app(scope, receive, send_with_id)
