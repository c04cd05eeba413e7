"""Which pages may open a websocket: the same rule Django's CSRF check applies to POSTs.

A browser sends an agent's session cookie with any websocket handshake, from any
page, so the `Origin` header is the only thing that tells the inbox from a page of
another site. It must equal the scheme, host and port the request itself came to
(`http://localhost:8000` is not `http://localhost:1`, nor `https://localhost:8000`),
or be listed in CSRF_TRUSTED_ORIGINS. This module only judges the handshake; it never
looks at the session.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def origin_allowed(*, origin: str | None, host: str | None, secure: bool) -> bool:
    """Django's `CsrfViewMiddleware._origin_verified`, for a handshake's headers.

    `host` is the Host header (with its port, if any), accepted only when it is in
    ALLOWED_HOSTS; `secure` whether the handshake came over TLS.
    """
    if not origin:
        return False
    own = f"{'https' if secure else 'http'}://{host}"
    if host and origin == own and _host_allowed(host):
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in {entry for entry in trusted if "*" not in entry}:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, allowed.netloc.lstrip("*"))
        for allowed in (urlsplit(entry) for entry in trusted if "*" in entry)
        if allowed.scheme == parsed.scheme
    )


def _host_allowed(host: str) -> bool:
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


def handshake_facts(scope) -> tuple[str | None, str | None, bool]:
    """(origin, host, secure) of an ASGI websocket scope, read as Django reads a request:
    X-Forwarded-Host only with USE_X_FORWARDED_HOST, the proxy's scheme header only when
    SECURE_PROXY_SSL_HEADER names it."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    host = headers.get("host")
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    secure = scope.get("scheme") in ("wss", "https")
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").replace("_", "-").lower()
        if header in headers:
            secure = headers[header].split(",", 1)[0].strip() == secure_value
    return headers.get("origin"), host, secure


class SameOriginValidator:
    """ASGI middleware: refuse a websocket handshake (HTTP 403) from another origin."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin, host, secure = handshake_facts(scope)
            if not origin_allowed(origin=origin, host=host, secure=secure):
                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
