"""Background workers reach agents' websockets in the one-process default."""

import contextlib
import json

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from handoff.models import EscalationRule
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import webhook_body

pytestmark = pytest.mark.server


def test_agents_see_a_new_message_and_the_viewer_its_reply_turn_sent_without_reloading(
    live, agents_group
):
    """A reply's delivery state shows only in its transcript: it is sent to the socket
    that has the conversation open, not to every agent (rules/event_audience.py)."""
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    make_agent("ben")
    session = login(live.url, "aiko")
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"})
    with (
        open_inbox(live.url, session) as socket,
        open_inbox(live.url, login(live.url, "ben")) as other,
    ):
        hello = json.loads(socket.recv(timeout=5))
        assert (hello["type"], hello["agent"]) == ("hello", "aiko")
        assert json.loads(other.recv(timeout=5))["type"] == "hello"  # ben's stands after it
        live.post_webhook(webhook_body("u-live", "I want to talk to an agent"))

        for inbox in (socket, other):
            created = receive_until(inbox, lambda e: e["type"] == "message.created")
            assert created["message"]["text"] == "I want to talk to an agent"
            escalated = receive_until(
                inbox,
                lambda e: e["type"] == "conversation.updated" and e["event"]["kind"] == "escalated",
            )
            assert escalated["conversation"]["escalation_reason"] == "keyword:agent"
        conversation_id = escalated["conversation"]["id"]
        socket.send(json.dumps({"type": "viewing", "conversation_id": conversation_id}))
        api = f"{live.url}/api/conversations/{conversation_id}"
        assert session.post(f"{api}/claim/", timeout=10).status_code == 200
        answer = session.post(f"{api}/reply/", json={"text": "Hello, Aiko here"}, timeout=10)
        assert answer.status_code == 201, answer.text
        reply_id = answer.json()["message"]["id"]

        sent = receive_until(
            socket,
            lambda e: (
                e["type"] == "message.delivery"
                and e["message_id"] == reply_id
                and e["delivery"]["state"] == "sent"
            ),
        )
        assert sent["delivery"]["dispatch_id"]
        # Ben sees the reply in the list, then nothing of its delivery.
        reply = receive_until(
            other, lambda e: e["type"] == "message.created" and e["message"]["id"] == reply_id
        )
        assert reply["message"]["text"] == "Hello, Aiko here"
        later = []
        with contextlib.suppress(TimeoutError):
            while True:
                later.append(json.loads(other.recv(timeout=1.5)))
        assert not [e for e in later if e["type"] == "message.delivery"], later


def test_the_inbox_socket_closes_on_anonymous_users_with_4401(live):
    with open_inbox(live.url, None) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=2)
    assert closed.value.rcvd.code == 4401


def test_a_reconnecting_agent_is_replayed_what_it_missed_over_a_real_socket(live, agents_group):
    make_agent("carol")
    session = login(live.url, "carol")
    with open_inbox(live.url, session) as socket:
        last_seen = json.loads(socket.recv(timeout=5))["seq"]
    live.post_webhook(webhook_body("u-replay", "hello there"))

    with ws_client.connect(
        live.url.replace("http://", "ws://") + f"/ws/inbox/?after={last_seen}",
        additional_headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies)},
        origin=live.url,
        open_timeout=5,
    ) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"
        created = receive_until(socket, lambda e: e["type"] == "message.created")
        assert created["seq"] > last_seen
        assert created["message"]["text"] == "hello there"
        receive_until(socket, lambda e: e["type"] == "caught_up")


def test_the_inbox_socket_refuses_foreign_origins(live, agents_group):
    make_agent("ben")
    with pytest.raises(InvalidStatus):
        open_inbox(live.url, login(live.url, "ben"), origin="http://evil.example").recv(timeout=2)


def test_an_idle_socket_outlives_the_channel_layers_blocking_wait(live, agents_group):
    # With Redis, each socket waits for messages in 5 s blocking reads; a client read
    # timeout of 5 s (redis-py 8's default) used to end idle sockets with 1011.
    make_agent("dai")
    with open_inbox(live.url, login(live.url, "dai")) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"
        with pytest.raises(TimeoutError):
            socket.recv(timeout=8)  # nothing happens for longer than one blocking read
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}


def test_a_page_listing_the_waiting_queue_is_sent_the_row_when_it_enters_with_its_preview(
    live, agents_group
):
    """The bot's rows are not sent to a page that shows the Waiting queue; the hand-over
    that brings the row there carries what the customer last wrote
    (rules/event_audience.py, docs/websocket.md)."""
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    make_agent("ben")
    session = login(live.url, "aiko")
    with (
        open_inbox(live.url, session, listing="waiting") as waiting,
        open_inbox(live.url, login(live.url, "ben")) as everything,
    ):
        for inbox in (waiting, everything):
            assert json.loads(inbox.recv(timeout=5))["type"] == "hello"
        live.post_webhook(webhook_body("u-rows", "What are your opening hours?"))
        asked = receive_until(everything, lambda e: e["type"] == "message.created")
        assert asked["message"]["text"] == "What are your opening hours?"
        live.post_webhook(webhook_body("u-rows", "I want to talk to an agent"))

        seen = []
        escalated = receive_until(
            waiting,
            lambda e: (
                seen.append(e) is None
                and e["type"] == "conversation.updated"
                and (e["event"] or {}).get("kind") == "escalated"
            ),
        )
        # The row's preview as the list shows it: the latest message but the system's
        # (the bot may have answered the first question after the second was stored).
        preview = escalated["conversation"]["last_message"]
        listed = session.get(f"{live.url}/api/conversations/?queue=waiting", timeout=10).json()
        (row,) = [c for c in listed["conversations"] if c["id"] == escalated["conversation"]["id"]]
        assert preview == row["last_message"]
        assert preview["author_kind"] in ("customer", "bot")
        assert not [e for e in seen if e["type"] == "message.created"], seen
        escalated_too = receive_until(
            everything,
            lambda e: (
                e["type"] == "conversation.updated"
                and (e["event"] or {}).get("kind") == "escalated"
            ),
        )
        assert escalated_too["conversation"]["last_message"] == preview
