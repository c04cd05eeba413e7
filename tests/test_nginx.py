"""The nginx site file operators include (deploy/nginx/handoff.conf), tested in front of
the web process: the same cut-offs as the web process's own, websockets passed.

nginx runs with 2-second header and body timeouts so that the waits stay short; the
tests wait generously and assert what happened, never how fast.
"""

import json

import pytest
import requests

from tests.conftest import ARTIFACTS
from tests.support.agents import login, make_agent, open_inbox
from tests.support.rawhttp import (
    chunked,
    connect,
    head,
    healthy,
    push,
    read_until_closed,
    status,
    trickle_until_closed,
)
from tests.support.servers import Nginx

# No skip when nginx is missing: `make test` installs it, and a skipped proof of the
# documented proxy file would pass silently.
pytestmark = [pytest.mark.server]

WEBHOOK = b"/webhooks/braze/whatsapp/"


@pytest.fixture(scope="module")
def nginx(app_server):
    proxy = Nginx(app_server.port, ARTIFACTS / "nginx", header_timeout=2, body_timeout=2).start()
    yield proxy
    proxy.stop()


def test_a_body_declared_over_1_MiB_is_refused_before_it_is_sent(nginx):
    with connect(nginx.port) as sock:
        sock.sendall(head(b"POST", b"/api/conversations/", b"Content-Length: 314572800"))
        answer = read_until_closed(sock)

    assert status(answer) == 413
    assert healthy(nginx.port)


def test_a_webhook_body_declared_over_64_KiB_is_refused_before_it_is_sent(nginx):
    with connect(nginx.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Content-Length: 70000"))
        answer = read_until_closed(sock)

    assert status(answer) == 413


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(nginx, report):
    with connect(nginx.port) as sock:
        sock.sendall(head(b"POST", b"/api/conversations/", b"Transfer-Encoding: chunked"))
        sent, answer = push(sock, chunked(300 * 1024 * 1024), stop_at_answer=True)
    report(f"request limits (nginx): chunked upload refused after {sent / 2**20:.1f} MiB sent")

    assert status(answer) == 413
    assert sent < 32 * 1024 * 1024
    assert healthy(nginx.port)


def test_headers_trickled_a_byte_at_a_time_are_cut_off(nginx):
    """nginx's client_header_timeout runs from the request's start, not from the last
    byte, so trickling does not stretch it."""
    with connect(nginx.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        trickle_until_closed([sock], b"a")


def test_a_body_that_stops_short_of_its_content_length_is_cut_off(nginx):
    """nginx's client_body_timeout is between two reads: a stalled body is cut, and
    handoff never sees it (nginx passes only whole bodies on)."""
    with connect(nginx.port) as sock:
        sock.sendall(head(b"POST", WEBHOOK, b"Content-Length: 1000") + b"{")
        answer = read_until_closed(sock)

    assert answer == b"" or status(answer) == 408


def test_200_trickling_requests_are_cut_off_while_healthz_keeps_answering(nginx):
    socks = [connect(nginx.port) for _ in range(200)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")
        assert healthy(nginx.port), "/healthz while 200 half-sent requests are held"
        answers = trickle_until_closed(socks, b"a")
    finally:
        for sock in socks:
            sock.close()

    assert len(answers) == 200
    assert healthy(nginx.port)


def test_the_inbox_websocket_works_through_nginx(live, nginx, agents_group):
    make_agent("nora")
    with open_inbox(nginx.url, login(nginx.url, "nora")) as socket:
        hello = json.loads(socket.recv(timeout=5))

    assert (hello["type"], hello["agent"]) == ("hello", "nora")


def test_the_admin_and_static_files_work_through_nginx(live, nginx):
    assert requests.get(nginx.url + "/admin/login/", timeout=10).status_code == 200
    assert requests.get(nginx.url + "/static/inbox/socket.js", timeout=10).status_code == 200


def test_the_request_id_is_nginxs_own_whatever_the_client_sent(nginx):
    """handoff answers with the id it logged the request under (handoff.web.request_id):
    behind nginx that is nginx's `$request_id`, so nginx's access log can carry it too."""
    plain = requests.get(nginx.url + "/healthz", timeout=10)
    claimed = requests.get(
        nginx.url + "/healthz", headers={"X-Request-ID": "client-chose-this"}, timeout=10
    )

    ids = [plain.headers["X-Request-ID"], claimed.headers["X-Request-ID"]]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids), ids
    assert ids[0] != ids[1]
