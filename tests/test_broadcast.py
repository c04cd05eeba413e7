"""Events reach a shared channel layer from any thread, also one that runs a loop.

A process without a server loop of its own (a management command, a test driving a
browser) sends through `async_to_sync`, which refuses to run in a thread whose own event
loop is running. Seen on PostgreSQL+Redis: a browser test's in-process service calls
logged "You cannot use AsyncToSync in the same thread as an async event loop" and their
events never reached the open inboxes.
"""

import asyncio

import pytest

from handoff.live import broadcast


class RecordingLayer:
    """Stands in for channels_redis's layer (a shared layer that is not in-memory);
    only the thread and loop handling is under test here."""

    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        await asyncio.sleep(0)
        self.sent.append((group, message["event"]["type"]))


@pytest.fixture
def layer(monkeypatch):
    recording = RecordingLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: recording)
    monkeypatch.setattr(broadcast, "_server_loop", None)
    return recording


def test_a_thread_without_a_loop_sends_before_returning(layer):
    broadcast.send_to_agents({"type": "presence"})
    assert layer.sent == [(broadcast.AGENTS_GROUP, "presence")]


def test_a_thread_whose_own_loop_runs_still_sends_before_returning(layer):
    async def caller_inside_a_loop():
        broadcast.send_to_agents({"type": "message.created"})
        return list(layer.sent)

    assert asyncio.run(caller_inside_a_loop()) == [(broadcast.AGENTS_GROUP, "message.created")]


class SlowLayer:
    """A layer whose sends take a moment (a Redis round trip), recording each message."""

    def __init__(self):
        self.messages = []

    async def group_send(self, group, message):
        self.messages.append(message)
        await asyncio.sleep(0.01)


def test_events_that_pile_up_during_a_send_leave_together_in_order(monkeypatch):
    slow = SlowLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: slow)

    async def publish_on_the_server_loop():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(broadcast, "_server_loop", loop)
        broadcast.send_to_agents({"type": "conversation.updated", "seq": 1})
        await asyncio.sleep(0)  # the first send is now in flight
        for seq in (2, 3, 4):
            broadcast.send_to_agents({"type": "conversation.updated", "seq": seq})
        while len(slow.messages) < 2 or broadcast._outboxes[loop].pending:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)

    asyncio.run(publish_on_the_server_loop())
    first, second = slow.messages
    assert first == {"type": "inbox.event", "event": {"type": "conversation.updated", "seq": 1}}
    assert second["type"] == "inbox.events"
    assert [event["seq"] for event in second["events"]] == [2, 3, 4]
