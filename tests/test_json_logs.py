"""JSON log lines (HANDOFF_LOG_FORMAT=json) from the app under daphne: every line is one
JSON object, a request's lines carry the id its response echoed, a worker's lines the
conversation they were about, and no line holds a customer's number, name or text.
"""

import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import quote_plus

import pytest
import requests
import websockets.sync.client as ws_client

from handoff.models import Conversation, EscalationRule, Message
from handoff.telemetry.json_log import JsonLineFormatter, redact_numbers
from handoff.telemetry.log_context import LogContextFilter, request_id_from, serving, working_on
from tests.conftest import ARTIFACTS, empty_tables_beside_running_workers, wait_until
from tests.support.agents import login, make_agent, receive_until
from tests.support.factories import webhook_body
from tests.support.servers import ROOT, AppServer, WorkerProcess, server_env

pytestmark = pytest.mark.server

FIELDS = {"time", "level", "logger", "message", "request_id", "conversation_id"}
ACCESS_FIELDS = {"method", "path", "status", "size", "duration_seconds", "client"}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# The canary: a customer whose number, name and words must never reach the log.
CANARY_ID = "canary-user-5117"
CANARY_PHONE = "+819055501234"
CANARY_NAME = "Sato Canary"
CANARY_TEXT = "kumquat marmalade parcel for Hokkaido, an agent please"
AGENT_REPLY = "Your kumquat marmalade left the warehouse"


@pytest.fixture(scope="module")
def json_server(app_server, session_braze):
    """The app with HANDOFF_LOG_FORMAT=json. The shared server is stopped meanwhile:
    its embedded workers would otherwise route and send some of these tests' messages,
    and write about them in its own log."""
    from django.db import connection

    app_server.stop()

    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "daphne-json.log"
    log.write_text("")
    env = server_env(
        connection.settings_dict,
        session_braze.url,
        HANDOFF_LOG_FORMAT="json",
        LOG_LEVEL="INFO",  # the workers' lines about each message are INFO
    )
    server = AppServer(env, log).start()
    yield server
    server.stop()
    app_server.start()


@pytest.fixture
def live_json(json_server, session_braze, transactional_db):
    """The JSON-logging server with a clean database and stand-in, as `live` is."""
    session_braze.set_behaviour("ok")
    session_braze.clear()
    yield json_server
    time.sleep(0.2)
    empty_tables_beside_running_workers()


def records(server: AppServer, since: int = 0) -> list[dict]:
    """Every line the server wrote after byte `since`, each parsed as JSON (a line
    that is not fails the test)."""
    text = server.log_path.read_bytes()[since:].decode("utf-8")
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    return parsed


def log_size(server: AppServer) -> int:
    return server.log_path.stat().st_size


def agent_post(session: requests.Session, base_url: str, path: str, body=None):
    return session.post(
        base_url + path,
        json=body,
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base_url}/"},
        timeout=10,
    )


def test_every_line_is_one_json_object_with_the_fixed_fields(live_json):
    requests.get(live_json.url + "/no-such-page/", timeout=10)
    wait_until(lambda: any(r["message"].startswith("Not Found") for r in records(live_json)))

    written = records(live_json)  # from the server's first line on, start-up included

    assert len(written) > 3
    for record in written:
        assert FIELDS <= record.keys() <= FIELDS | ACCESS_FIELDS | {"exc_info"}, record
        assert ISO_UTC.fullmatch(record["time"]), record["time"]
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    access = [r for r in written if r["logger"] == "handoff.access"]
    assert {"method": "GET", "path": "/no-such-page/", "status": 404} in [
        {k: r.get(k) for k in ("method", "path", "status")} for r in access
    ]


def test_a_requests_lines_carry_the_request_id_its_response_echoed(live_json):
    start = log_size(live_json)

    generated = requests.get(live_json.url + "/api/conversations/987654/", timeout=10)
    given = requests.get(
        live_json.url + "/no-such-page/", headers={"X-Request-ID": "edge-4f1c9a"}, timeout=10
    )
    unsafe = requests.get(
        live_json.url + "/healthz", headers={"X-Request-ID": "evil\tid" + "x" * 80}, timeout=10
    )

    request_id = generated.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert given.headers["X-Request-ID"] == "edge-4f1c9a"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])

    # Django logs a 4xx answer from a thread of its own, after its middleware; daphne's
    # access line is written as the response is sent, in the request's context too.
    def lines_of(request_id: str) -> list[tuple[str, str]]:
        return sorted(
            (r["logger"], r["message"])
            for r in records(live_json, start)
            if r["request_id"] == request_id
        )

    assert wait_until(lambda: len(lines_of(request_id)) == 2 and lines_of(request_id)) == [
        ("django.request", "Unauthorized: /api/conversations/987654/"),
        ("handoff.access", "GET /api/conversations/987654/ 401"),
    ]
    assert wait_until(lambda: len(lines_of("edge-4f1c9a")) == 2 and lines_of("edge-4f1c9a")) == [
        ("django.request", "Not Found: /no-such-page/"),
        ("handoff.access", "GET /no-such-page/ 404"),
    ]


def test_a_websocket_connections_lines_carry_its_request_id(live_json, agents_group):
    make_agent("aiko")
    agent = login(live_json.url, "aiko")
    start = log_size(live_json)
    cookies = "; ".join(f"{c.name}={c.value}" for c in agent.cookies)

    with ws_client.connect(
        live_json.url.replace("http://", "ws://") + "/ws/inbox/",
        additional_headers={"Cookie": cookies, "X-Request-ID": "socket-5e2b"},
        origin=live_json.url,
        open_timeout=5,
    ) as socket:
        receive_until(socket, lambda frame: frame["type"] == "hello")

    # daphne announces the accepted socket from inside the connection's context (its
    # "connecting" and "disconnected" lines come from outside any connection).
    connected = wait_until(
        lambda: [r for r in records(live_json, start) if r["message"] == "WSCONNECT /ws/inbox/"]
    )
    assert [r["request_id"] for r in connected] == ["socket-5e2b"]


def canary_conversation(server: AppServer) -> int:
    """The canary customer writes, their message is routed and handed over (an
    escalation rule), an agent claims the chat, searches for them by number, name and
    words, and replies; returns the conversation once the reply has reached Braze."""
    EscalationRule.objects.create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    agent = login(server.url, "aiko")
    accepted = server.post_webhook(
        webhook_body(CANARY_ID, CANARY_TEXT, name=CANARY_NAME, phone_number=CANARY_PHONE)
    )
    assert accepted.status_code == 200
    conversation_id = wait_until(
        lambda: (
            Conversation.objects.filter(contact__external_id=CANARY_ID)
            .values_list("pk", flat=True)
            .first()
        )
    )
    wait_until(
        lambda: Conversation.objects.filter(pk=conversation_id, state="waiting").exists(),
        message="the message was never handed over",
    )
    path = f"/api/conversations/{conversation_id}/"
    assert agent_post(agent, server.url, path + "claim/").status_code == 200
    for term in (CANARY_PHONE, CANARY_NAME, CANARY_TEXT):
        found = agent.get(
            f"{server.url}/api/conversations/?queue=all&q={quote_plus(term)}", timeout=10
        )
        assert found.status_code == 200
    assert agent_post(agent, server.url, path + "reply/", {"text": AGENT_REPLY}).status_code == 201
    wait_until(
        lambda: Message.objects.filter(
            conversation_id=conversation_id, author_kind="agent", delivery_state="sent"
        ).exists(),
        message="the agent's reply never left",
    )
    time.sleep(0.5)  # let the server write what it will about the last steps
    return conversation_id


def test_worker_lines_about_a_message_carry_its_conversation_id(live_json, agents_group):
    start = log_size(live_json)

    conversation_id = canary_conversation(live_json)

    written = records(live_json, start)
    inbound, reply = (
        Message.objects.get(conversation_id=conversation_id, direction="in"),
        Message.objects.get(conversation_id=conversation_id, author_kind="agent"),
    )
    routed = [r for r in written if r["message"].startswith(f"Message {inbound.pk} routed")]
    sent = [r for r in written if r["message"] == f"Message {reply.pk} sent"]
    assert [(r["logger"], r["conversation_id"]) for r in routed] == [
        ("handoff.services.routing", conversation_id)
    ]
    assert [(r["logger"], r["conversation_id"]) for r in sent] == [
        ("handoff.services.delivery", conversation_id)
    ]
    assert routed[0]["request_id"] is None  # a worker's line, not the webhook request's


def test_the_canary_customers_number_name_and_text_never_reach_the_log(live_json, agents_group):
    start = log_size(live_json)

    canary_conversation(live_json)

    text = live_json.log_path.read_bytes()[start:].decode("utf-8")
    records(live_json, start)  # all JSON
    assert "Message" in text and "/api/conversations/" in text, "no line: proves nothing"
    secrets = {CANARY_PHONE, CANARY_PHONE.lstrip("+"), CANARY_NAME, CANARY_TEXT, AGENT_REPLY}
    secrets |= {quote_plus(s) for s in secrets} | {json.dumps(s)[1:-1] for s in secrets}
    assert sorted(s for s in secrets if s in text) == []


def test_a_worker_process_says_what_it_does_in_json_lines_too(transactional_db, session_braze):
    from django.db import connection

    env = server_env(
        connection.settings_dict,
        session_braze.url,
        HANDOFF_EMBEDDED_WORKERS="false",
        HANDOFF_LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    env.pop("REDIS_URL", None)  # so that it warns, as a process without Redis does
    # Without metrics: their system check (handoff.W001) prints Django's plain text first.
    env.pop("HANDOFF_METRICS_TOKEN", None)
    worker = WorkerProcess(env, ARTIFACTS / "run_workers-json.log").start()
    worker.stop()

    text = worker.log_path.read_text()
    written = [json.loads(line) for line in text.splitlines()]
    said = [(r["level"], r["message"]) for r in written]
    assert said[0][0] == "WARNING" and said[0][1].startswith("Warning: no REDIS_URL")
    assert [m for _, m in said if m.startswith("Workers running (")]
    assert said[-1] == ("INFO", "Workers stopped.")


def test_an_unknown_log_format_stops_the_start_with_a_clear_reason():
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "handoff.settings"}
    env["HANDOFF_LOG_FORMAT"] = "xml"
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "HANDOFF_LOG_FORMAT must be text or json" in started.stderr


# The formatter and the context on their own, for what a server run cannot show.


def format_record(message: str, *args, exc_info=None, **extra) -> dict:
    import logging

    record = logging.LogRecord("handoff.test", logging.WARNING, __file__, 1, message, args, None)
    record.exc_info = exc_info
    record.__dict__.update(extra)
    LogContextFilter().filter(record)
    return json.loads(JsonLineFormatter().format(record))


def test_fields_outside_the_allow_list_are_not_written():
    written = format_record("Message %s failed", 12, contact_name=CANARY_NAME, text=CANARY_TEXT)

    assert written.keys() == FIELDS
    assert written["message"] == "Message 12 failed"


def test_the_context_of_the_request_and_the_work_item_is_on_the_record_and_ends_with_it():
    with serving("req-1"), working_on(42):
        inside = format_record("inside")
    outside = format_record("outside")

    assert (inside["request_id"], inside["conversation_id"]) == ("req-1", 42)
    assert (outside["request_id"], outside["conversation_id"]) == (None, None)


def test_phone_numbers_in_messages_and_tracebacks_are_replaced():
    try:
        raise ValueError(f"Braze answered 400: unknown external_id {CANARY_PHONE}")
    except ValueError:
        import sys

        written = format_record("Braze said %s", "+81 90-5550-1234", exc_info=sys.exc_info())

    assert written["message"] == "Braze said [redacted]"
    assert "[redacted]" in written["exc_info"] and CANARY_PHONE not in written["exc_info"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("due 2026-12-07T04:05:06.123+00:00", True),
        ("Message 12 failed", True),
        ("from 127.0.0.1:8000", True),
        ("Profile updates [12345, 12346] failed", True),
        ("call 090-1234-5678", False),
        ("call +819012345678", False),
        ("call 819012345678", False),
    ],
)
def test_what_counts_as_a_phone_number(text, kept):
    assert (redact_numbers(text) == text) is kept


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("4f1c9a2b7d0e4e4f9c1b2a3d4e5f6a7b", True),
        ("edge-1.2:3_4", True),
        ("", False),
        ("two words", False),
        ("line\nbreak", False),
        ("x" * 65, False),
        ("+819012345678", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_it_is_a_sane_token(header, kept):
    assert (request_id_from(header) == header) is kept
