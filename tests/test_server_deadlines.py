"""The web process's request deadlines on an injected clock (handoff.web.server).

One connection of the channel handoff.web.server serves, fed bytes by hand while a
Twisted Clock stands in for time: when each deadline starts, that trickled bytes do
not move it, and when a refused connection is finally cut. The same behaviours
against the running server are in tests/test_request_limits.py.
"""

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from handoff.web.server import LINGER_SECONDS, LimitedHTTPFactory, LimitedServer, Limits

LIMITS = Limits(max_body_bytes=1000, header_timeout=10.0, body_timeout=30.0)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def connection(clock):
    """(channel, transport) for one freshly opened connection."""
    server = LimitedServer(application=None, endpoints=["tcp:0"], limits=LIMITS)
    server.connections = {}  # Server.run() would set this up
    channel = LimitedHTTPFactory(server, LIMITS).buildProtocol(None)
    channel.callLater = clock.callLater
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def trickle(channel, clock, data: bytes, *, every: float) -> None:
    for byte in data:
        clock.advance(every)
        channel.dataReceived(bytes([byte]))


def test_trickled_headers_are_refused_when_the_header_deadline_passes_not_later(connection, clock):
    channel, transport = connection
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n")
    trickle(channel, clock, b"X-Slow: " + b"a" * 11, every=0.5)  # 9.5 s after opening

    assert transport.value() == b""
    clock.advance(0.5)
    assert transport.value().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"The request's headers did not arrive within 10 s." in transport.value()


def test_a_connection_that_sends_nothing_is_refused_at_the_header_deadline(connection, clock):
    channel, transport = connection
    clock.advance(9.9)
    assert transport.value() == b""
    clock.advance(0.1)
    assert transport.value().startswith(b"HTTP/1.1 408 ")


def test_the_body_deadline_starts_when_the_headers_end(connection, clock):
    channel, transport = connection
    clock.advance(9.0)
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n")
    trickle(channel, clock, b"a" * 59, every=0.5)  # 29.5 s after the headers

    assert transport.value() == b""
    clock.advance(0.5)
    assert b"The request's body did not arrive within 30 s." in transport.value()


def test_a_declared_body_over_the_limit_is_refused_with_the_headers(connection):
    channel, transport = connection
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")

    assert transport.value().startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert b"larger than 1,000 bytes" in transport.value()


def test_a_chunked_body_is_refused_at_the_chunk_that_passes_the_limit(connection):
    channel, transport = connection
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    channel.dataReceived(b"3e8\r\n" + b"a" * 1000 + b"\r\n")  # exactly the limit
    assert transport.value() == b""

    channel.dataReceived(b"1\r\na\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413 ")


def test_a_refused_connection_is_cut_after_the_linger(connection, clock):
    channel, transport = connection
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    channel.dataReceived(b"a" * 500)  # dropped, within one more limit's worth
    clock.advance(LINGER_SECONDS - 0.1)
    assert not transport.disconnected

    clock.advance(0.1)
    assert transport.disconnected


def test_a_refused_connection_that_keeps_sending_is_cut_after_one_more_limit(connection):
    channel, transport = connection
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    channel.dataReceived(b"a" * 1000)
    assert not transport.disconnected

    channel.dataReceived(b"a")
    assert transport.disconnected
