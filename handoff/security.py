"""HTTP-level protections every request passes: which address a request came from.

It never decides who may see what (handoff.permissions and the views do).
"""

from django.conf import settings
from django.http import HttpRequest


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
