"""Request limits before the app, against the web process as the Procfile starts it.

Raw sockets play the clients a limit is for: one declaring a huge body, one streaming
a chunked body without end, one trickling a request a byte at a time, two hundred of
those at once. The server here has 2-second deadlines so that the waits stay short; the
tests wait generously and assert what happened, never how fast.
"""

import time
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, wait_until
from tests.support.rawhttp import (
    chunked,
    connect,
    head,
    healthy,
    push,
    raw_body,
    read_until_closed,
    status_and_json,
    trickle_until_closed,
)
from tests.support.servers import AppServer, server_env

pytestmark = pytest.mark.server

MAX_BODY = 1024 * 1024  # the default HANDOFF_MAX_BODY_BYTES
DEADLINE = 2  # seconds, for headers and for bodies
WEBHOOK = b"/webhooks/braze/whatsapp/"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, session_braze):
    from django.db import connection

    ARTIFACTS.mkdir(exist_ok=True)
    env = server_env(
        connection.settings_dict,
        session_braze.url,
        HANDOFF_EMBEDDED_WORKERS="false",
        HANDOFF_HEADER_TIMEOUT_SECONDS=str(DEADLINE),
        HANDOFF_BODY_TIMEOUT_SECONDS=str(DEADLINE),
    )
    app = AppServer(env, ARTIFACTS / "daphne-limits.log").start()
    yield app
    app.stop()


def server_rss_mib(server: AppServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS for the server process")


# -- bodies ------------------------------------------------------------------------------


def test_a_body_declared_over_the_limit_is_refused_before_a_byte_of_it_is_sent(server):
    """No secret, 300 MB declared: the answer comes to the headers alone."""
    with connect(server.port) as sock:
        sock.sendall(
            head(b"POST", WEBHOOK, b"Content-Type: application/json", b"Content-Length: 314572800")
        )
        answer = read_until_closed(sock)

    status, body = status_and_json(answer)
    assert status == 413
    assert body == {"error": "The request body is larger than 1,048,576 bytes.", "fields": {}}
    assert b"Connection: close" in answer
    assert healthy(server.port)


def test_a_client_that_asks_to_continue_gets_413_instead_of_100_continue(server):
    with connect(server.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Content-Length: 2000000", b"Expect: 100-continue"))
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_a_300_MB_upload_sent_blindly_is_cut_off_and_the_server_does_not_grow(server, report):
    """The client ignores the answer and keeps sending: the server stops reading after
    about two body limits' worth, and its memory stays where it was."""
    before = server_rss_mib(server)
    total = 300 * 1024 * 1024
    with connect(server.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Content-Length: %d" % total))
        sent, _ = push(sock, raw_body(total), stop_at_answer=False)
    after = server_rss_mib(server)
    report(
        f"request limits: blind 300 MB upload: client got {sent / 2**20:.1f} MiB out before "
        f"the cut; server RSS {before:.0f} -> {after:.0f} MiB"
    )

    assert sent < 32 * 1024 * 1024  # the body limit, one more for the linger, socket buffers
    assert after - before < 32
    assert healthy(server.port)


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(server, report):
    """Chunked bodies declare no length: counted as they arrive, refused past 1 MiB."""
    total = 300 * 1024 * 1024
    with connect(server.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Transfer-Encoding: chunked"))
        sent, answer = push(sock, chunked(total), stop_at_answer=True)
    report(f"request limits: chunked upload refused after {sent / 2**20:.1f} MiB sent")

    status, body = status_and_json(answer)
    assert status == 413
    assert "larger than 1,048,576 bytes" in body["error"]
    assert MAX_BODY < sent < 32 * 1024 * 1024
    assert healthy(server.port)


def test_a_chunked_body_sent_blindly_is_cut_off_too(server):
    total = 300 * 1024 * 1024
    with connect(server.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Transfer-Encoding: chunked"))
        sent, _ = push(sock, chunked(total), stop_at_answer=False)

    assert sent < 32 * 1024 * 1024
    assert healthy(server.port)


def test_a_body_within_the_limit_still_reaches_the_app(server):
    """Just under 1 MiB, chunked: the server lets it through and the webhook's own
    64 KiB check answers (after the secret)."""
    with connect(server.port) as sock:
        sock.sendall(
            head(
                b"POST",
                WEBHOOK,
                b"Authorization: Bearer test-webhook-secret",
                b"Transfer-Encoding: chunked",
                b"Connection: close",
            )
        )
        _, answer = push(sock, chunked(MAX_BODY - 64 * 1024), stop_at_answer=True)

    status, body = status_and_json(answer)
    assert status == 413
    assert body["error"] == "The body is larger than 64 KiB."


# -- half-sent requests ----------------------------------------------------------------


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_header_deadline(server):
    """Every byte resets an idle timeout; the deadline for the headers does not move."""
    with connect(server.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answers = trickle_until_closed([sock], b"a")

    status, body = status_and_json(answers[sock])
    assert status == 408
    assert body["error"] == "The request's headers did not arrive within 2 s."


def test_a_body_shorter_than_its_content_length_is_cut_off_at_the_body_deadline(server):
    with connect(server.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Content-Length: 100000") + b"{")
        answers = trickle_until_closed([sock], b" ")

    status, body = status_and_json(answers[sock])
    assert status == 408
    assert body["error"] == "The request's body did not arrive within 2 s."


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server.port) as sock:
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 ")


def test_200_trickling_requests_are_all_cut_off_while_healthz_keeps_answering(server, report):
    socks = [connect(server.port) for _ in range(200)]
    try:
        for sock in socks:
            sock.sendall(b"POST /webhooks/braze/whatsapp/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")
        assert healthy(server.port), "/healthz while 200 half-sent requests are held"
        answers = trickle_until_closed(socks, b"a")
    finally:
        for sock in socks:
            sock.close()
    report(f"request limits: {len(answers)} of 200 trickling connections cut off by the server")

    assert len(answers) == 200
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers.values())
    assert healthy(server.port)


def test_headers_over_16_KiB_are_refused(server):
    """Twisted's own limit (daphne's too), kept: one line over 16 KiB closes the
    connection, many lines over 16 KiB in all are answered 400."""
    many = b"".join(b"X-%d: " % i + b"a" * 500 + b"\r\n" for i in range(40))
    for headers in (b"X-Big: " + b"a" * 20000 + b"\r\n", many):
        with connect(server.port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
            answer = read_until_closed(sock)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
    assert healthy(server.port)


def test_a_kept_alive_connection_idle_past_the_header_deadline_still_serves(server):
    """The header deadline starts at a request's first byte, not when the previous
    answer ended: browsers keep idle connections for their next request."""
    with connect(server.port) as sock:
        sock.sendall(head(b"GET", b"/healthz"))
        first = wait_until(lambda: sock.recv(65536), message="no answer to the first request")
        time.sleep(DEADLINE + 1)
        sock.sendall(head(b"GET", b"/healthz", b"Connection: close"))
        second = read_until_closed(sock)

    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.startswith(b"HTTP/1.1 200 ")
