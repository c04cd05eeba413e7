"""The process's one subscription to the agents' events (handoff/live/hub.py): every
socket of the process hears the layer through it, pushes that arrive out of order are
put back in order, a skipped number is read from the feed once for all of them, and a
socket that falls behind is resynced rather than queued without end."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from handoff.live import hub
from handoff.live.broadcast import AGENTS_GROUP
from handoff.live.events import as_sent
from handoff.models import InboxEvent
from handoff.web import consumers
from tests.support.inbox_socket import (
    TIMEOUT,
    assert_silent,
    in_event_loop,
    make_user,
    open_inbox,
    publish_updates,
    receive,
    session_cookie,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_channel_layer"),
]


@pytest.fixture
def three_agents(agents_group) -> list[bytes]:
    return [session_cookie(make_user(name)) for name in ("aiko", "ben", "chie")]


async def open_all(cookies: list[bytes]):
    sockets = []
    for cookie in cookies:
        socket, _ = await open_inbox(cookie)
        sockets.append(socket)
    for socket in sockets:  # the online events of those who opened after it
        while await socket.receive_nothing(timeout=0.3) is False:
            await receive(socket)
    return sockets


async def close_all(sockets) -> None:
    for socket in sockets:
        await socket.disconnect(timeout=TIMEOUT)


async def group_members(group: str) -> set[str]:
    """This process's members of the group, from whichever layer the settings chose
    (Redis's publish/subscribe layer keeps a process's memberships in the process)."""
    layer = get_channel_layer()
    if hasattr(layer, "_get_group_channel_name"):  # Redis pub/sub, per event loop
        groups = layer._get_layer().groups
        return set(groups.get(layer._get_group_channel_name(group), ()))
    return set(layer.groups.get(group, {}))


@in_event_loop
async def test_the_sockets_of_a_process_are_one_member_of_the_agents_group(three_agents):
    sockets = await open_all(three_agents)

    this_hub = hub.Hub._per_loop[asyncio.get_running_loop()]
    this_process = this_hub.channel
    members = await group_members(AGENTS_GROUP)
    assert this_process in members
    assert len(this_hub.subscribers) == 3
    assert not set(this_hub.subscribers) & members  # the sockets' own channels

    await close_all(sockets)
    # The hub leaves the group once its last socket closed.
    for _ in range(100):
        if this_process not in await group_members(AGENTS_GROUP):
            break
        await asyncio.sleep(0.05)
    assert this_process not in await group_members(AGENTS_GROUP)


async def two_events_not_pushed(monkeypatch) -> tuple[int, int, dict[int, dict]]:
    """Two committed events whose pushes the test sends itself: their numbers, and
    each event as it would have been pushed."""
    monkeypatch.setattr("handoff.live.events.send_to_agents", lambda event: None)
    first, second = await publish_updates(2)
    rows = await database_sync_to_async(lambda: [as_sent(e) for e in InboxEvent.objects.all()])()
    return first, second, {row["seq"]: row for row in rows}


def count_feed_reads(monkeypatch) -> list[tuple[int, int | None]]:
    """The hub's reads of the feed from now on, as (after, until)."""
    reads = []
    real_catch_up = hub._catch_up

    async def counted(after, **kwargs):
        reads.append((after, kwargs.get("until")))
        return await real_catch_up(after, **kwargs)

    monkeypatch.setattr(hub, "_catch_up", counted)
    return reads


@in_event_loop
async def test_a_skipped_number_is_read_from_the_feed_once_for_every_socket(
    three_agents, monkeypatch
):
    sockets = await open_all(three_agents)
    first, second, pushed = await two_events_not_pushed(monkeypatch)
    reads = count_feed_reads(monkeypatch)

    # The second commit's push arrives; the first's never does.
    await get_channel_layer().group_send(
        AGENTS_GROUP, {"type": "inbox.event", "event": pushed[second]}
    )

    for socket in sockets:
        assert [(await receive(socket))["seq"] for _ in range(2)] == [first, second]
    assert reads == [(first - 1, first)]
    # The lost push arriving late is dropped for all of them.
    await get_channel_layer().group_send(
        AGENTS_GROUP, {"type": "inbox.event", "event": pushed[first]}
    )
    for socket in sockets:
        await assert_silent(socket)
    await close_all(sockets)


@in_event_loop
async def test_pushes_that_arrive_out_of_order_are_put_back_in_order_without_reading_the_feed(
    three_agents, monkeypatch
):
    """Two processes commit events 1 and 2 in that order, but 2's push reaches the layer
    first: the hub waits briefly for 1's instead of reading the feed at once."""
    sockets = await open_all(three_agents)
    first, second, pushed = await two_events_not_pushed(monkeypatch)
    reads = count_feed_reads(monkeypatch)

    layer = get_channel_layer()
    await layer.group_send(AGENTS_GROUP, {"type": "inbox.event", "event": pushed[second]})
    await layer.group_send(AGENTS_GROUP, {"type": "inbox.event", "event": pushed[first]})

    for socket in sockets:
        assert [(await receive(socket))["seq"] for _ in range(2)] == [first, second]
    assert reads == []
    await close_all(sockets)


@in_event_loop
async def test_while_the_feed_cannot_be_read_the_hub_does_not_retry_in_a_loop(
    three_agents, monkeypatch
):
    sockets = await open_all(three_agents)
    _first, second, pushed = await two_events_not_pushed(monkeypatch)
    reads = []

    async def unreadable(after, **kwargs):
        reads.append(after)
        raise ConnectionError("the database is away")

    monkeypatch.setattr(hub, "_catch_up", unreadable)

    # The second event's push; the first's never comes, and the feed cannot be read.
    await get_channel_layer().group_send(
        AGENTS_GROUP, {"type": "inbox.event", "event": pushed[second]}
    )
    for _ in range(500):  # the read after the reorder wait
        if reads:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    assert len(reads) == 1  # then a rest, not a retry at once
    for socket in sockets:
        await assert_silent(socket)  # nothing out of order meanwhile
    await close_all(sockets)


@in_event_loop
async def test_events_taken_before_a_feed_read_that_fails_still_reach_the_sockets(
    three_agents, monkeypatch
):
    """The first event's push, then the feed watch asking for the second, which cannot
    be read: the first was taken (the hub's number is past it), so it is handed over
    all the same, not dropped with the failed read."""
    sockets = await open_all(three_agents)
    first, second, pushed = await two_events_not_pushed(monkeypatch)

    async def unreadable(after, **kwargs):
        raise ConnectionError("the database is away")

    monkeypatch.setattr(hub, "_catch_up", unreadable)
    this_hub = hub.Hub._per_loop[asyncio.get_running_loop()]
    this_hub.pushes.extend(
        [{"type": "inbox.event", "event": pushed[first]}, {"type": hub._FILL, "until": second}]
    )
    this_hub.wake.set()

    for socket in sockets:
        assert (await receive(socket))["seq"] == first
    await close_all(sockets)


@in_event_loop
async def test_a_socket_whose_events_wait_too_long_is_resynced_not_queued_without_end(
    three_agents, monkeypatch
):
    """A socket held up (here: its replay never ends) keeps at most MAX_WAITING events;
    past that it gets a resync at the newest number, and the other sockets every event."""
    monkeypatch.setattr(consumers, "MAX_WAITING", 3)
    stuck = asyncio.Event()

    async def slow_catch_up(after, **kwargs):
        await stuck.wait()
        return consumers.CatchUp(events=[], latest=after, resync=False)

    monkeypatch.setattr(consumers, "_catch_up", slow_catch_up)
    others = await open_all(three_agents[1:])
    held_up, hello = await open_inbox(three_agents[0], after=0)
    for socket in others:
        await receive(socket)  # aiko online

    numbers = await publish_updates(5)

    for socket in others:
        assert [(await receive(socket))["seq"] for _ in numbers] == numbers
    stuck.set()
    assert await receive(held_up) == {"type": "caught_up", "seq": 0}
    resync = await receive(held_up)
    assert resync["type"] == "resync"
    # What came after the overflow still follows it, in order, up to the newest.
    after = [(await receive(held_up))["seq"] for _ in range(numbers[-1] - resync["seq"])]
    assert after == list(range(resync["seq"] + 1, numbers[-1] + 1))
    assert len(after) < consumers.MAX_WAITING
    await assert_silent(held_up)
    await close_all([held_up, *others])


@in_event_loop
async def test_events_that_pile_up_are_one_frame_for_a_socket_that_reads_packed_frames(
    three_agents, monkeypatch
):
    """`?pack=1` (docs/websocket.md): what the hub hands over together is one JSON array;
    a socket that did not ask gets the same events one frame each."""
    packed, _ = await open_inbox(three_agents[0], pack=1)
    plain, _ = await open_inbox(three_agents[1])
    await receive(packed)  # ben online
    monkeypatch.setattr("handoff.live.events.send_to_agents", lambda event: None)
    numbers = await publish_updates(3)
    rows = await database_sync_to_async(lambda: [as_sent(e) for e in InboxEvent.objects.all()])()
    pushed = {row["seq"]: row for row in rows}

    await get_channel_layer().group_send(
        AGENTS_GROUP, {"type": "inbox.events", "events": [pushed[seq] for seq in numbers]}
    )

    frame = await packed.receive_json_from(timeout=TIMEOUT)
    assert [event["seq"] for event in frame] == numbers
    assert frame == [pushed[seq] for seq in numbers]
    assert [(await receive(plain))["seq"] for _ in numbers] == numbers
    for socket in (packed, plain):
        await assert_silent(socket)
    await close_all([packed, plain])
