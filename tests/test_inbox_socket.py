"""The inbox websocket (docs/websocket.md), driven through the real ASGI application:
origin check, session cookies through AuthMiddlewareStack, the in-memory channel layer
and events pushed after commit from another thread, as under daphne.
"""

import contextlib
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import pre_delete
from django.test import Client
from django.utils import timezone

from handoff.live import events, hub, presence
from handoff.live.broadcast import AGENTS_GROUP
from handoff.live.events import as_sent, latest_seq, publish
from handoff.live.feed import PRUNED, catch_up, prune_events
from handoff.models import AgentPresence, InboxEvent
from handoff.services import revocation, revocation_triggers
from handoff.web import consumers
from handoff.web.origins import handshake_facts, origin_allowed
from handoff.workers.threads import Periodic
from tests.support.factories import make_conversation
from tests.support.inbox_socket import (
    TIMEOUT,
    _publish_updates,
    assert_silent,
    current_seq,
    in_event_loop,
    inbox,
    make_user,
    open_inbox,
    publish_updates,
    receive,
    receive_until_caught_up,
    session_cookie,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_channel_layer"),
]


@pytest.fixture
def aiko(agents_group):
    return session_cookie(make_user("aiko"))


@pytest.fixture
def ben(agents_group):
    return session_cookie(make_user("ben"))


# Who may connect


@in_event_loop
async def test_an_anonymous_socket_is_accepted_then_closed_with_4401():
    socket = inbox(None)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    assert await socket.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 4401,
    }
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_logged_in_user_who_is_not_an_agent_is_closed_with_4403(agents_group):
    cookie = await database_sync_to_async(lambda: session_cookie(make_user("zed", agent=False)))()
    socket = inbox(cookie)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    close = await socket.receive_output(timeout=TIMEOUT)
    assert close == {"type": "websocket.close", "code": 4403}
    await socket.disconnect(timeout=TIMEOUT)
    assert not await database_sync_to_async(AgentPresence.objects.exists)()


@in_event_loop
async def test_an_agent_on_a_page_of_another_site_is_refused_at_the_handshake(aiko):
    socket = inbox(aiko, origin=b"http://evil.example")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert not connected


@in_event_loop
@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (b"http://testserver:1", b"testserver"),  # another port
        (b"https://testserver", b"testserver"),  # another scheme
        (b"http://localhost:1", b"localhost:8000"),  # the example
        (b"http://testserver", b"evil.example"),  # a Host that is not allowed
        (b"null", b"testserver"),  # a sandboxed page
    ],
)
async def test_an_origin_that_differs_in_scheme_or_port_is_refused_at_the_handshake(
    aiko, origin, host
):
    socket = inbox(aiko, origin=origin, host=host)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert not connected


@in_event_loop
async def test_an_origin_in_csrf_trusted_origins_may_open_the_socket(aiko, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://inbox.example.com"]
    socket = inbox(aiko, origin=b"https://inbox.example.com", host=b"testserver")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    assert (await receive(socket))["type"] == "hello"
    await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("origin", "host", "secure", "trusted", "allowed"),
    [
        ("http://testserver", "testserver", False, [], True),
        ("http://localhost:8000", "localhost:8000", False, [], True),
        ("https://localhost:8000", "localhost:8000", True, [], True),
        ("http://localhost:8000", "localhost:8000", True, [], False),
        ("https://localhost:8000", "localhost:8000", False, [], False),
        ("http://localhost:1", "localhost:8000", False, [], False),
        ("http://localhost", "localhost:8000", False, [], False),
        ("http://evil.example", "evil.example", False, [], False),  # not in ALLOWED_HOSTS
        (None, "testserver", False, [], False),
        ("", "testserver", False, [], False),
        ("http://testserver", None, False, [], False),
        ("https://a.example.com", "testserver", False, ["https://a.example.com"], True),
        ("http://a.example.com", "testserver", False, ["https://a.example.com"], False),
        ("https://x.example.com", "testserver", False, ["https://*.example.com"], True),
        ("http://x.example.com", "testserver", False, ["https://*.example.com"], False),
        ("https://x.example.org", "testserver", False, ["https://*.example.com"], False),
    ],
)
def test_the_origin_must_be_the_requests_own_scheme_host_and_port_or_trusted(
    settings, origin, host, secure, trusted, allowed
):
    settings.CSRF_TRUSTED_ORIGINS = trusted
    assert origin_allowed(origin=origin, host=host, secure=secure) is allowed


def test_a_tls_proxy_header_counts_as_secure_only_when_settings_name_it(settings):
    scope = {
        "scheme": "ws",
        "headers": [
            (b"host", b"inbox.example.com"),
            (b"origin", b"https://inbox.example.com"),
            (b"x-forwarded-proto", b"https"),
        ],
    }
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert handshake_facts(scope) == ("https://inbox.example.com", "inbox.example.com", True)
    settings.SECURE_PROXY_SSL_HEADER = None
    assert handshake_facts(scope)[2] is False
    assert handshake_facts({**scope, "scheme": "wss"})[2] is True


@in_event_loop
async def test_an_agent_from_an_allowed_origin_is_greeted_with_the_newest_seq_and_who_is_online(
    aiko, ben
):
    ben_socket, _ = await open_inbox(ben)
    socket = inbox(aiko, origin=b"http://localhost:8000", host=b"localhost:8000")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected

    hello = await receive(socket)

    assert hello == {
        "type": "hello",
        "seq": await current_seq(),
        "agent": "aiko",
        "online": ["aiko", "ben"],
    }
    await socket.disconnect(timeout=TIMEOUT)
    await ben_socket.disconnect(timeout=TIMEOUT)


# Live events


@in_event_loop
async def test_an_event_reaches_the_socket_after_its_transaction_commits_with_its_seq(aiko):
    socket, hello = await open_inbox(aiko)

    [seq] = await publish_updates()

    event = await receive(socket)
    assert event["seq"] == seq == hello["seq"] + 1
    assert event["type"] == "conversation.updated"
    assert event["conversation"] == {"id": 1}
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_an_event_whose_transaction_rolls_back_never_reaches_the_socket(aiko):
    socket, _ = await open_inbox(aiko)

    def publish_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            publish("conversation.updated", {"conversation": {"id": 1}, "event": None})
            raise RuntimeError("rolled back")

    await database_sync_to_async(publish_then_fail)()

    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_live_event_that_skips_a_number_brings_the_skipped_one_from_the_feed_first(
    aiko, monkeypatch
):
    socket, hello = await open_inbox(aiko)
    monkeypatch.setattr("handoff.live.events.send_to_agents", lambda event: None)
    first, second = await publish_updates(2)
    rows = await database_sync_to_async(lambda: [as_sent(e) for e in InboxEvent.objects.all()])()
    pushed = {row["seq"]: row for row in rows}
    layer = get_channel_layer()

    # The second commit's push overtakes the first's.
    await layer.group_send(AGENTS_GROUP, {"type": "inbox.event", "event": pushed[second]})
    await layer.group_send(AGENTS_GROUP, {"type": "inbox.event", "event": pushed[first]})

    assert [(await receive(socket))["seq"] for _ in range(2)] == [first, second]
    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_events_pushed_together_reach_the_socket_in_their_order(aiko, monkeypatch):
    """live/broadcast.py sends what piled up during a send as one `inbox.events`."""
    socket, hello = await open_inbox(aiko)
    monkeypatch.setattr("handoff.live.events.send_to_agents", lambda event: None)
    numbers = await publish_updates(3)
    rows = await database_sync_to_async(lambda: [as_sent(e) for e in InboxEvent.objects.all()])()
    pushed = {row["seq"]: row for row in rows}

    await get_channel_layer().group_send(
        AGENTS_GROUP, {"type": "inbox.events", "events": [pushed[seq] for seq in numbers]}
    )

    assert [(await receive(socket))["seq"] for _ in numbers] == list(numbers)
    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_an_event_whose_push_was_lost_reaches_the_socket_from_the_feed_within_seconds(
    aiko, monkeypatch, caplog
):
    """No later event is needed to repair a lost push: the per-process feed watch
    sends a socket what committed a watch ago and never came (logged as a warning)."""
    socket, hello = await open_inbox(aiko)
    monkeypatch.setattr("handoff.live.events.send_to_agents", lambda event: None)
    (lost,) = await publish_updates(1)

    repaired = await receive(socket)  # TIMEOUT is a bound, not the expectation: ~2 s
    assert (repaired["type"], repaired["seq"]) == ("conversation.updated", lost)
    await assert_silent(socket)
    assert "missing events" in caplog.text
    await socket.disconnect(timeout=TIMEOUT)


# Catching up


@in_event_loop
async def test_a_reconnect_after_the_last_seq_gets_exactly_the_missed_events_then_caught_up(
    aiko,
):
    socket, hello = await open_inbox(aiko)
    last_seen = hello["seq"]
    await socket.disconnect(timeout=TIMEOUT)
    missed = await publish_updates(3)

    socket, hello = await open_inbox(aiko, after=last_seen)
    frames = await receive_until_caught_up(socket)

    newest = await current_seq()
    assert hello["seq"] == newest
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("presence", last_seen + 1),  # aiko went offline
        *[("conversation.updated", seq) for seq in missed],
        ("presence", newest),  # aiko came back
        ("caught_up", newest),
    ]
    assert [f["online"] for f in frames if f["type"] == "presence"] == [False, True]
    assert missed == [last_seen + 2, last_seen + 3, last_seen + 4]
    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_reconnect_that_missed_nothing_gets_only_caught_up_then_live_events(aiko):
    socket, hello = await open_inbox(aiko)
    newest = await current_seq()

    second, _ = await open_inbox(aiko, after=newest)
    assert await receive_until_caught_up(second) == [{"type": "caught_up", "seq": newest}]
    [seq] = await publish_updates()

    assert (await receive(second))["seq"] == seq
    await assert_silent(second)
    await second.disconnect(timeout=TIMEOUT)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_events_committed_while_the_replay_is_read_are_sent_once_and_after_it(
    aiko, monkeypatch
):
    [before] = await publish_updates()
    committed = []

    @database_sync_to_async
    def racing_catch_up(after, **kwargs):
        committed.extend(_publish_updates())  # replayed, and its live push dropped
        result = catch_up(after, **kwargs)
        committed.extend(_publish_updates())  # live only: after caught_up
        return result

    monkeypatch.setattr(consumers, "_catch_up", racing_catch_up)

    socket, hello = await open_inbox(aiko, after=before - 1)
    frames = await receive_until_caught_up(socket)
    frames.append(await receive(socket))

    assert [(f["type"], f["seq"]) for f in frames] == [
        ("conversation.updated", before),
        ("presence", hello["seq"]),
        ("conversation.updated", committed[0]),
        ("caught_up", committed[0]),
        ("conversation.updated", committed[1]),
    ]
    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_gap_older_than_the_kept_events_gets_a_resync_instead_of_a_replay(aiko):
    first, *_ = await publish_updates(3)
    await database_sync_to_async(prune_events)(timezone.now() + timedelta(days=2))

    socket, hello = await open_inbox(aiko, after=first)
    frames = await receive_until_caught_up(socket)

    assert frames == [
        {"type": "resync", "seq": hello["seq"]},
        {"type": "caught_up", "seq": hello["seq"]},
    ]
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_seq_from_the_future_another_database_gets_a_resync(aiko):
    socket, hello = await open_inbox(aiko, after=10_000)
    frames = await receive_until_caught_up(socket)

    assert [f["type"] for f in frames] == ["resync", "caught_up"]
    assert frames[0]["seq"] == hello["seq"]
    [seq] = await publish_updates()
    assert (await receive(socket))["seq"] == seq  # not held back by the bogus number
    await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize("after", ["yesterday", "²", "-1", "1e3"])
@in_event_loop
async def test_an_after_that_is_not_a_number_is_answered_with_an_error_and_a_resync(aiko, after):
    socket, hello = await open_inbox(aiko, after=after)
    frames = await receive_until_caught_up(socket)

    assert [f["type"] for f in frames] == ["error", "resync", "caught_up"]
    await socket.disconnect(timeout=TIMEOUT)


# Presence and activity


@in_event_loop
async def test_other_agents_see_an_agent_come_online_and_go_offline_with_their_last_socket(
    aiko, ben
):
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    assert await receive(aiko_socket) == {
        "type": "presence",
        "seq": await current_seq(),
        "agent": "ben",
        "online": True,
        "status": "available",
        "capacity": 5,
        "open_count": 0,
    }

    ben_second_tab, hello = await open_inbox(ben)
    assert hello["online"] == ["aiko", "ben"]
    await ben_socket.disconnect(timeout=TIMEOUT)
    await assert_silent(aiko_socket)  # ben still has a socket open

    await ben_second_tab.disconnect(timeout=TIMEOUT)
    offline = await receive(aiko_socket)
    assert (offline["type"], offline["agent"], offline["online"]) == ("presence", "ben", False)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_an_agent_choosing_away_reaches_the_other_agents_at_once(aiko, ben):
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online

    @database_sync_to_async
    def choose(status: str) -> int:
        client = Client()
        client.cookies.load(ben.decode())
        response = client.post(
            "/api/me/status/", {"status": status}, content_type="application/json"
        )
        return response.status_code

    assert await choose("away") == 200

    for socket in (aiko_socket, ben_socket):  # ben's other tabs follow too
        event = await receive(socket)
        assert {k: event[k] for k in ("type", "agent", "online", "status", "open_count")} == {
            "type": "presence",
            "agent": "ben",
            "online": True,
            "status": "away",
            "open_count": 0,
        }
    await ben_socket.disconnect(timeout=TIMEOUT)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_reload_within_the_grace_is_silent_and_the_sweep_announces_offline_after_it(
    aiko, ben, settings
):
    settings.HANDOFF_OFFLINE_GRACE_SECONDS = 30
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online

    await ben_socket.disconnect(timeout=TIMEOUT)  # ben reloads his page
    ben_again, hello = await open_inbox(ben)
    assert hello["online"] == ["aiko", "ben"]
    await assert_silent(aiko_socket)

    await ben_again.disconnect(timeout=TIMEOUT)  # and closes it
    await assert_silent(aiko_socket)
    after_the_grace = timezone.now() + timedelta(seconds=31)
    await database_sync_to_async(presence.forget_stale_sockets)(after_the_grace)

    offline = await receive(aiko_socket)
    assert (offline["type"], offline["agent"], offline["status"]) == ("presence", "ben", "offline")
    await aiko_socket.disconnect(timeout=TIMEOUT)


@pytest.fixture
def two_conversations(db) -> tuple[int, int]:
    return make_conversation().pk, make_conversation().pk


@in_event_loop
async def test_viewing_typing_and_leaving_reach_the_other_agents_but_not_the_sender(
    aiko, ben, two_conversations
):
    first, second = two_conversations
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online

    await ben_socket.send_json_to({"type": "viewing", "conversation_id": first})
    await ben_socket.send_json_to({"type": "typing", "conversation_id": first})
    await ben_socket.send_json_to({"type": "viewing", "conversation_id": second})
    await ben_socket.send_json_to({"type": "viewing", "conversation_id": None})

    notices = [await receive(aiko_socket) for _ in range(5)]
    assert [(n["type"], n["agent"], n["conversation_id"], n["activity"]) for n in notices] == [
        ("activity", "ben", first, "viewing"),
        ("activity", "ben", first, "typing"),
        ("activity", "ben", first, "left"),
        ("activity", "ben", second, "viewing"),
        ("activity", "ben", second, "left"),
    ]
    assert all("seq" not in n for n in notices)
    await assert_silent(ben_socket)
    await ben_socket.disconnect(timeout=TIMEOUT)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
@pytest.mark.parametrize("kind", ["viewing", "typing"])
async def test_viewing_or_typing_in_a_conversation_that_does_not_exist_is_an_error_not_relayed(
    aiko, ben, kind
):
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online

    await ben_socket.send_json_to({"type": kind, "conversation_id": 999999})

    assert await receive(ben_socket) == {
        "type": "error",
        "error": "there is no conversation 999999",
    }
    await assert_silent(aiko_socket)
    await ben_socket.send_json_to({"type": "ping"})
    assert await receive(ben_socket) == {"type": "pong"}
    await ben_socket.disconnect(timeout=TIMEOUT)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_an_agent_who_disconnects_leaves_the_conversation_they_viewed(
    aiko, ben, two_conversations
):
    viewed, _ = two_conversations
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online
    await ben_socket.send_json_to({"type": "viewing", "conversation_id": viewed})
    await receive(aiko_socket)

    await ben_socket.disconnect(timeout=TIMEOUT)

    # Seen failing on PostgreSQL+Redis in whole-suite runs only (never alone): if a
    # frame does not come, say what the feed and the presence rows held by then.
    received = []
    try:
        for _ in range(2):
            received.append(await receive(aiko_socket))
    except TimeoutError:
        feed = await database_sync_to_async(
            lambda: list(InboxEvent.objects.order_by("-pk").values_list("pk", "kind")[:5])
        )()
        rows = await database_sync_to_async(
            lambda: list(AgentPresence.objects.values_list("agent__username", "channel_name"))
        )()
        pytest.fail(f"aiko received {received}; newest events {feed}; presence rows {rows}")
    left, offline = received
    assert (left["activity"], left["conversation_id"], left["agent"]) == ("left", viewed, "ben")
    assert (offline["type"], offline["online"]) == ("presence", False)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_typing_faster_than_once_a_second_is_announced_once(aiko, ben, two_conversations):
    conversation_id, _ = two_conversations
    aiko_socket, _ = await open_inbox(aiko)
    ben_socket, _ = await open_inbox(ben)
    await receive(aiko_socket)  # ben online

    for _ in range(3):
        await ben_socket.send_json_to({"type": "typing", "conversation_id": conversation_id})

    assert (await receive(aiko_socket))["activity"] == "typing"
    await assert_silent(aiko_socket)
    await ben_socket.disconnect(timeout=TIMEOUT)
    await aiko_socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_ping_is_answered_with_pong_and_keeps_the_agent_fresh(aiko):
    socket, _ = await open_inbox(aiko)
    long_ago = timezone.now() - timedelta(minutes=5)
    await database_sync_to_async(AgentPresence.objects.update)(seen_at=long_ago)

    await socket.send_json_to({"type": "ping"})

    assert await receive(socket) == {"type": "pong"}
    row = await database_sync_to_async(AgentPresence.objects.get)()
    assert row.seen_at > long_ago
    await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"type": "dance"}',
        '{"conversation_id": 12}',
        '{"type": "typing"}',
        '{"type": "typing", "conversation_id": null}',
        '{"type": "viewing", "conversation_id": "12"}',
        '{"type": "viewing", "conversation_id": true}',
        '{"type": "viewing", "conversation_id": -3}',
    ],
)
@in_event_loop
async def test_an_invalid_frame_is_answered_with_an_error_and_the_socket_stays_open(aiko, frame):
    socket, _ = await open_inbox(aiko)

    await socket.send_to(text_data=frame)

    error = await receive(socket)
    assert error["type"] == "error" and error["error"]
    await socket.send_json_to({"type": "ping"})
    assert await receive(socket) == {"type": "pong"}
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_binary_frame_is_answered_with_an_error(aiko):
    socket, _ = await open_inbox(aiko)

    await socket.send_to(bytes_data=b'{"type": "ping"}')

    assert (await receive(socket))["type"] == "error"
    await socket.disconnect(timeout=TIMEOUT)


def test_sockets_of_a_dead_process_are_swept_and_their_agent_announced_offline(agents_group):
    aiko, ben = make_user("aiko"), make_user("ben")
    presence.socket_opened(aiko.pk, "dead-process-1")
    presence.socket_opened(ben.pk, "dead-process-2")
    presence.socket_opened(ben.pk, "live-process-1")
    AgentPresence.objects.exclude(channel_name="live-process-1").update(
        seen_at=timezone.now() - timedelta(minutes=5)
    )
    before = latest_seq()

    assert presence.forget_stale_sockets() == 2

    assert presence.online_usernames() == ["ben"]
    offline = [as_sent(e) for e in InboxEvent.objects.filter(pk__gt=before)]
    assert [(e["agent"], e["online"]) for e in offline] == [("aiko", False)]


def test_a_heartbeat_from_a_swept_socket_records_it_and_announces_the_agent_again(agents_group):
    aiko = make_user("aiko")
    before = latest_seq()

    presence.heartbeat("throttled-tab", agent_id=aiko.pk)

    assert presence.online_usernames() == ["aiko"]
    [online] = [as_sent(e) for e in InboxEvent.objects.filter(pk__gt=before)]
    assert (online["type"], online["agent"], online["online"]) == ("presence", "aiko", True)


# Losing access (services/revocation.py)


async def outputs_until_closed(socket: WebsocketCommunicator) -> tuple[list[dict], int]:
    """The frames a socket sends, then its close code."""
    frames = []
    while True:
        output = await socket.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return frames, output["code"]
        frames.append(json.loads(output["text"]))


def _user(username: str):
    return get_user_model().objects.get(username=username)


@in_event_loop
async def test_an_event_whose_push_overtakes_the_access_change_is_not_sent_to_the_revoked_agent(
    aiko, monkeypatch
):
    # The access change's own push is lost (or late): the next event's number skips
    # it, the socket fetches it from the feed first, and stops there.
    real_send = events.send_to_agents
    monkeypatch.setattr(
        events,
        "send_to_agents",
        lambda event: None if event["type"] == "access.changed" else real_send(event),
    )
    socket, hello = await open_inbox(aiko)

    @database_sync_to_async
    def deactivate_then_publish():
        with transaction.atomic():
            user = _user("aiko")
            user.is_active = False
            user.save()
        return _publish_updates()

    [after_the_change] = await deactivate_then_publish()

    frames, code = await outputs_until_closed(socket)
    assert code == consumers.CLOSE_SIGNED_OUT == 4410
    assert frames == []
    assert after_the_change > hello["seq"]


@in_event_loop
async def test_an_access_change_in_a_gap_too_long_to_replay_still_closes_the_socket(
    aiko, monkeypatch
):
    """A resync skips the events of its gap, so the socket asks again at once instead
    of at its next ping (seen on PostgreSQL: a flushed feed whose numbers went on)."""
    from handoff.live.feed import MAX_REPLAY

    monkeypatch.setattr(hub, "FEED_WATCH_SECONDS", 3600)  # no repair meanwhile
    socket, hello = await open_inbox(aiko)
    real_send = events.send_to_agents
    monkeypatch.setattr(events, "send_to_agents", lambda event: None)
    await publish_updates(MAX_REPLAY + 1)  # committed, never pushed: a gap
    monkeypatch.setattr(events, "send_to_agents", real_send)

    @database_sync_to_async
    def remove_from_agents():
        _user("aiko").groups.clear()  # announced by access.changed, pushed

    await remove_from_agents()

    frames, code = await outputs_until_closed(socket)
    assert [frame["type"] for frame in frames] == ["resync"]
    assert code == 4410


@in_event_loop
async def test_an_agent_deleted_without_any_signal_is_closed_at_their_next_ping_not_crashed(
    aiko,
):
    socket, _ = await open_inbox(aiko)

    @database_sync_to_async
    def delete_quietly():
        # As a raw cleanup would: no pre_delete, so no access change is announced.
        with disconnected(pre_delete, revocation_triggers.user_pre_delete, get_user_model()):
            _user("aiko").delete()

    await delete_quietly()
    await socket.send_json_to({"type": "ping"})

    frames, code = await outputs_until_closed(socket)
    assert (frames, code) == ([], 4410)


@in_event_loop
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda: get_user_model().objects.filter(username="aiko").update(is_active=False),
            id="bulk-update",
        ),
        pytest.param(lambda: Session.objects.all().delete(), id="signed-out-elsewhere"),
    ],
)
async def test_a_change_no_event_announces_is_caught_at_the_next_ping(aiko, change):
    socket, _ = await open_inbox(aiko)

    await database_sync_to_async(change)()
    await socket.send_json_to({"type": "ping"})

    frames, code = await outputs_until_closed(socket)
    assert (frames, code) == ([], 4410)


@in_event_loop
async def test_a_pending_access_change_that_never_commits_holds_events_then_lets_them_go(
    aiko, monkeypatch
):
    # A save outside a transaction announced itself, then failed: the socket holds
    # what follows until the change's own event would have come, re-checks, sends it.
    monkeypatch.setattr(revocation, "ACCESS_PENDING_SECONDS", 0.2)
    socket, _ = await open_inbox(aiko)
    agent_id = await database_sync_to_async(lambda: _user("aiko").pk)()

    await database_sync_to_async(revocation.save_begins)(agent_id=agent_id)
    [seq] = await publish_updates()

    pending = await receive(socket)
    assert (pending["type"], pending["pending"]) == ("access.changed", True)
    held = await receive(socket)
    assert held["seq"] == seq == pending["seq"] + 1
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_a_save_outside_a_transaction_holds_events_until_its_change_is_checked(aiko, ben):
    # Between the pending notice and the change's own event, ben's socket sends
    # nothing; a change that does not end access then lets the held event go.
    socket, _ = await open_inbox(ben)
    ben_id = await database_sync_to_async(lambda: _user("ben").pk)()

    @database_sync_to_async
    def pending_event_then_the_change():
        revocation.save_begins(agent_id=ben_id)
        [seq] = _publish_updates()
        revocation.access_changed(agent_ids=[ben_id])  # ben may stay: nothing changed
        return seq

    seq = await pending_event_then_the_change()

    frames = [await receive(socket) for _ in range(3)]
    assert [(f["type"], f.get("pending")) for f in frames] == [
        ("access.changed", True),
        ("conversation.updated", None),
        ("access.changed", None),
    ]
    assert frames[1]["seq"] == seq
    await socket.disconnect(timeout=TIMEOUT)


@in_event_loop
async def test_an_event_committed_between_a_save_outside_a_transaction_and_its_notice_is_dropped(
    aiko,
):
    # user.save() in a shell: the pending notice commits, then the UPDATE, then
    # (a moment later, in post_save) the change's own event. An event committed in
    # that moment must not reach the socket.
    socket, _ = await open_inbox(aiko)
    agent_id = await database_sync_to_async(lambda: _user("aiko").pk)()
    await database_sync_to_async(revocation.save_begins)(agent_id=agent_id)  # pre_save
    pending = await receive(socket)
    assert (pending["type"], pending["pending"]) == ("access.changed", True)

    @database_sync_to_async
    def the_update_an_event_then_post_save():
        get_user_model().objects.filter(pk=agent_id).update(is_active=False)  # the UPDATE
        _publish_updates()  # another thread's event, committed in between
        revocation.access_changed(agent_ids=[agent_id])  # post_save

    await the_update_an_event_then_post_save()

    frames, code = await outputs_until_closed(socket)
    assert (frames, code) == ([], 4410)


@in_event_loop
async def test_other_agents_access_changes_do_not_disturb_a_socket(aiko, ben):
    socket, _ = await open_inbox(aiko)

    @database_sync_to_async
    def revoke_ben():
        _user("ben").groups.clear()
        return _publish_updates()

    [seq] = await revoke_ben()

    change, event = await receive(socket), await receive(socket)
    assert change["type"] == "access.changed"
    assert event["seq"] == seq
    await socket.disconnect(timeout=TIMEOUT)


@contextlib.contextmanager
def disconnected(signal, receiver, sender):
    signal.disconnect(receiver, sender=sender, dispatch_uid="handoff.revocation")
    try:
        yield
    finally:
        signal.connect(receiver, sender=sender, dispatch_uid="handoff.revocation")


# Pruning


def test_pruning_removes_old_events_but_keeps_the_newest_so_numbering_goes_on(settings):
    settings.HANDOFF_EVENT_RETENTION_HOURS = 24
    seqs = _publish_updates(5)
    InboxEvent.objects.filter(pk__in=seqs[:3]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    assert prune_events(batch=2) == 3
    assert kept_events() == seqs[3:]

    assert prune_events(timezone.now() + timedelta(days=3)) == 1
    assert kept_events() == [seqs[-1]]
    assert catch_up(seqs[-1]).resync is False
    assert catch_up(seqs[-2]).events == [as_sent(InboxEvent.objects.get(pk=seqs[-1]))]
    assert catch_up(seqs[-3]).resync is True  # seqs[-2] is gone


def kept_events() -> list[int]:
    return list(InboxEvent.objects.exclude(kind=PRUNED).order_by("pk").values_list("pk", flat=True))


def test_a_number_lost_to_a_rollback_is_not_a_gap_that_forces_a_resync():
    """PostgreSQL's sequences never give back a number that a rolled-back transaction
    took, so the feed has holes that hide nothing."""
    first = _publish_updates(1)[0]
    with contextlib.suppress(RuntimeError), transaction.atomic():
        _publish_updates(2)
        raise RuntimeError("roll back")
    last = _publish_updates(1)[0]

    result = catch_up(first - 1)

    assert result.resync is False
    assert [event["seq"] for event in result.events] == [first, last]


def test_the_prune_events_command_says_how_many_it_deleted(capsys):
    seqs = _publish_updates(3)
    InboxEvent.objects.filter(pk__in=seqs[:2]).update(created_at=timezone.now() - timedelta(days=2))

    call_command("prune_events")

    assert "Deleted 2 inbox events" in capsys.readouterr().out


def test_a_worker_chore_runs_at_most_once_per_interval():
    now = [1000.0]
    runs = []
    chore = Periodic("count", lambda: runs.append(now[0]), every=3600, clock=lambda: now[0])

    chore.run_if_due()
    now[0] += 3599
    chore.run_if_due()
    now[0] += 1
    chore.run_if_due()

    assert runs == [1000.0, 4600.0]
