"""The web process: daphne, with request limits enforced before a request reaches the app.

daphne (through twisted.web) reads a request's whole body before the app sees a byte
of it, and an idle timeout that every trickled byte resets keeps a half-sent request
open for ever: neither Django nor an ASGI middleware can refuse early enough. This
module runs daphne's own command line (same options, same `Server`) with one change,
the HTTP channel that parses each connection. It answers

- 413 to a body declared larger than `HANDOFF_MAX_BODY_BYTES`, before reading any of
  it (and before `100 Continue`), and to a chunked body as soon as it grows past it;
- 408 when a request's headers are not complete `HANDOFF_HEADER_TIMEOUT_SECONDS` after
  its first byte (or after the connection opened), or its body not complete
  `HANDOFF_BODY_TIMEOUT_SECONDS` after its headers, however slowly bytes trickle in.

then stops answering on that connection. It decides on sizes and time only: it never
looks at what a request means (path, credentials), which is the app's job. Its access
log leaves out query strings (handoff.web.access_log): searches put customers in them.

    python -m handoff.web.server -b 0.0.0.0 -p 8000 handoff.asgi:application
"""

import json
from dataclasses import dataclass

from daphne.cli import CommandLineInterface as DaphneCommandLine  # installs the reactor
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings
from twisted.web import http

from handoff.web.access_log import access_log_as_records, access_log_without_queries

# After a refusal, the client's remaining bytes are read and dropped for this long (or
# up to one more body limit's worth), so that a client still sending gets the answer
# instead of a reset, and then the connection is cut.
LINGER_SECONDS = 5.0


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            max_body_bytes=settings.HANDOFF_MAX_BODY_BYTES,
            header_timeout=settings.HANDOFF_HEADER_TIMEOUT_SECONDS,
            body_timeout=settings.HANDOFF_BODY_TIMEOUT_SECONDS,
        )


def refusal(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP response in the app's error shape (`handoff.web.json_errors.json_error`),
    closing the connection."""
    body = json.dumps({"error": message, "fields": {}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedRequest(WebRequest):
    """daphne's request, counting its body as it arrives (a chunked body declares no
    length to check in advance)."""

    received = 0

    def handleContentChunk(self, data: bytes) -> None:
        channel = self.channel
        if channel is None or channel.refused:
            return
        self.received += len(data)
        if self.received > channel.limits.max_body_bytes:
            channel.refuse_too_large()
            return
        super().handleContentChunk(data)


class LimitedChannel(http.HTTPChannel):
    """One HTTP/1.1 connection, with a deadline for each request's headers and body
    and a cap on its body. A websocket leaves this channel after its (bodiless)
    upgrade request, so neither applies to it."""

    limits: Limits  # set by LimitedHTTPFactory
    refused = False
    _deadline = None
    _between_requests = False
    _lingering = None
    _lingered = 0

    def connectionMade(self) -> None:
        super().connectionMade()
        self._arm(self.limits.header_timeout, "headers")

    def dataReceived(self, data: bytes) -> None:
        if self.refused:
            self._drop(data)
            return
        if self._between_requests:
            # The first byte of the next request on a kept-alive connection.
            self._between_requests = False
            self._arm(self.limits.header_timeout, "headers")
        super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:
        if self.refused:
            self._drop(data)
            return
        super().rawDataReceived(data)

    def allHeadersReceived(self) -> None:
        self._disarm()
        if self.length is not None and self.length > self.limits.max_body_bytes:
            self.refuse_too_large()
            return
        if self.length != 0:  # a declared length or chunked
            self._arm(self.limits.body_timeout, "body")
        super().allHeadersReceived()

    def allContentReceived(self) -> None:
        if self.refused:
            return
        self._disarm()
        super().allContentReceived()

    def requestDone(self, request) -> None:
        self._between_requests = True
        super().requestDone(request)

    def connectionLost(self, reason) -> None:
        self._disarm()
        if self._lingering is not None and self._lingering.active():
            self._lingering.cancel()
        super().connectionLost(reason)

    def refuse_too_large(self) -> None:
        limit = self.limits.max_body_bytes
        self._refuse(413, "Content Too Large", f"The request body is larger than {limit:,} bytes.")

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.callLater(seconds, self._too_slow, seconds, part)

    def _disarm(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _too_slow(self, seconds: float, part: str) -> None:
        self._deadline = None
        self._refuse(
            408, "Request Timeout", f"The request's {part} did not arrive within {seconds:g} s."
        )

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer, close our side, drop what the client still sends for a moment, cut."""
        if self.refused:
            return
        self.refused = True
        self._disarm()
        self.setTimeout(None)
        self.transport.write(refusal(status, reason, message))
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if half_close is None:
            self.transport.loseConnection()
        else:
            half_close()
        self._lingering = self.callLater(LINGER_SECONDS, self.transport.abortConnection)

    def _drop(self, data: bytes) -> None:
        self._lingered += len(data)
        if self._lingered > self.limits.max_body_bytes:
            self.transport.abortConnection()


class LimitedHTTPFactory(HTTPFactory):
    """daphne's factory, building LimitedChannel connections with LimitedRequest.

    Plain HTTP/1.1 channels: daphne offers HTTP/2 only over TLS, which the proxy in
    front terminates (docs/deploy.md)."""

    protocol = LimitedChannel

    def __init__(self, server: Server, limits: Limits):
        super().__init__(server)
        self.limits = limits

    def buildProtocol(self, addr):
        channel = super().buildProtocol(addr)
        channel.requestFactory = LimitedRequest
        channel.limits = self.limits
        return channel


class LimitedServer(Server):
    """daphne's Server, listening with LimitedHTTPFactory. The command line builds it
    after loading the app, so Django's settings are ready."""

    def __init__(self, *args, limits: Limits | None = None, action_logger=None, **kwargs):
        self.limits = limits or Limits.from_settings()
        if action_logger is not None and settings.HANDOFF_LOG_FORMAT == "json":
            action_logger = access_log_as_records  # JSON lines, like every other line
        super().__init__(*args, action_logger=access_log_without_queries(action_logger), **kwargs)

    # Server.run() builds its HTTPFactory and listens with it; this swaps in ours.
    @property
    def http_factory(self) -> LimitedHTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, daphne_factory: HTTPFactory) -> None:
        self._http_factory = LimitedHTTPFactory(self, self.limits)


class CommandLineInterface(DaphneCommandLine):
    description = "handoff's web process: daphne with request limits (handoff.web.server)"
    server_class = LimitedServer


if __name__ == "__main__":
    CommandLineInterface.entrypoint()
