"""HTTP-level protections every request passes: which address a request came from,
and no caching of the JSON that carries customer data.

It never decides who may see what (handoff.rules.agents and the views do).
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Paths whose answers hold customer data (names, phone numbers, texts) or answer Braze.
NO_STORE_PREFIXES = ("/api/", "/webhooks/")


def client_address(request: HttpRequest) -> str:
    """The client's address: X-Forwarded-For's last hop (the one our own proxy added)
    when HANDOFF_BEHIND_PROXY says a proxy is in front, else the connection's address.
    Without a proxy the header is the client's own word, so it is ignored."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.HANDOFF_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
    return address


def _no_store(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if request.path.startswith(NO_STORE_PREFIXES):
        response["Cache-Control"] = "no-store"
    return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on /api/ and the webhook, so that no browser cache,
    proxy or shared computer keeps a copy of a conversation. Sync and async alike, so
    the async webhook view stays on the event loop."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self._acall(request)
        return _no_store(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return _no_store(request, await self.get_response(request))
