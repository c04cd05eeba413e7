"""The inbox tabs' counts over the socket (`?counts=1`): read once per process after a
change, each agent sent their own (rules/queue_counts.py), the same numbers as
`GET /api/counts/`, and only when they changed."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import transaction

from handoff.live import hub
from handoff.live.events import publish
from handoff.models import Conversation, Team
from handoff.rules.queue_counts import DeskCounts, counts_for
from handoff.selectors.inbox import counts as api_counts
from tests.support.factories import make_conversation
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

State = Conversation.State


def test_an_agent_counts_the_waiting_of_no_team_and_of_their_teams():
    desk = DeskCounts(
        by_state={"bot": 2, "waiting": 6, "assigned": 3, "resolved": 4},
        waiting_by_team={None: 1, 10: 2, 20: 3},
        assigned_to={7: 2, 8: 1},
        teams_of={7: frozenset({10}), 9: frozenset({10, 20})},
        staff=frozenset({5}),
    )
    assert counts_for(desk, 7) == {"waiting": 3, "mine": 2, "bot": 2, "resolved": 4, "all": 15}
    assert counts_for(desk, 8)["waiting"] == 1  # no team: only everyone's queue
    assert counts_for(desk, 9)["waiting"] == 6
    assert counts_for(desk, 5)["waiting"] == 6  # staff see every team's
    assert counts_for(desk, 5)["mine"] == 0


@pytest.fixture
def desk(agents_group, fresh_channel_layer):
    """aiko in team Billing, ben in no team, sam staff; conversations in every queue."""
    aiko, ben = make_user("aiko"), make_user("ben")
    sam = make_user("sam")
    sam.is_staff = True
    sam.save()
    billing = Team.objects.create(name="Billing")
    billing.members.add(aiko)
    make_conversation(state=State.WAITING)
    make_conversation(state=State.WAITING, team=billing)
    make_conversation(state=State.WAITING, team=billing)
    make_conversation(state=State.ASSIGNED, assignee=aiko)
    make_conversation(state=State.BOT)
    make_conversation(state=State.RESOLVED)
    chie = make_user("chie")  # opens her socket without asking for counts
    return {user.username: (user, session_cookie(user)) for user in (aiko, ben, sam, chie)}


@database_sync_to_async
def _api_counts(user) -> dict:
    return api_counts(agent=get_user_model().objects.get(pk=user.pk))


@database_sync_to_async
def hand_over_to(team_name: str | None) -> int:
    """A new conversation waits for a team's queue (or everyone's); its update's number."""
    team = Team.objects.get(name=team_name) if team_name else None
    with transaction.atomic():
        conversation = make_conversation(state=State.WAITING, team=team)
        published = publish(
            "conversation.updated",
            {"conversation": {"id": conversation.pk}, "event": None},
            conversation_id=conversation.pk,
        )
    return published["seq"]


async def counts_frame(socket) -> dict:
    """The next `counts` notice, past the events before it."""
    while True:
        frame = await receive(socket)
        if frame["type"] == "counts":
            return frame["counts"]


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_each_agent_is_sent_their_own_counts_as_the_api_gives_them(desk, monkeypatch):
    monkeypatch.setattr(hub, "COUNTS_SECONDS", 0)
    sockets = {}
    for name in ("aiko", "ben", "sam"):
        sockets[name], _ = await open_inbox(desk[name][1], counts=1)
    plain, _ = await open_inbox(desk["chie"][1])

    await hand_over_to("Billing")

    for name, socket in sockets.items():
        assert await counts_frame(socket) == await _api_counts(desk[name][0]), name
    # A socket that did not ask gets the update and nothing more.
    assert (await receive(plain))["type"] == "conversation.updated"
    await assert_silent(plain)

    # Everyone's queue grows: each count moves, and is sent again.
    await hand_over_to(None)
    for name, socket in sockets.items():
        counts = await counts_frame(socket)
        assert counts == await _api_counts(desk[name][0]), name
    assert counts["waiting"] == 5  # sam, staff: both of Billing's, now three of no team

    for socket in (*sockets.values(), plain):
        await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_counts_that_did_not_change_are_not_sent_again(desk, monkeypatch):
    monkeypatch.setattr(hub, "COUNTS_SECONDS", 0)
    socket, _ = await open_inbox(desk["ben"][1], counts=1)
    await hand_over_to("Billing")  # not ben's team: his waiting stays, "all" grows
    first = await counts_frame(socket)

    # An update that moves no count (a topic changed, say): the event, no counts.
    (seq,) = await publish_updates(1)
    frame = await receive(socket)
    assert (frame["type"], frame["seq"]) == ("conversation.updated", seq)
    await assert_silent(socket)
    assert first == await _api_counts(desk["ben"][0])
    await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_a_burst_of_changes_is_counted_once_for_every_socket(desk, monkeypatch):
    """Three sockets, twenty changes committed one by one: the process reads the counts
    once, right after the first batch, then rests (here longer than the test)."""
    reads = []
    read = hub._desk_counts

    async def counted_read():
        reads.append(1)
        return await read()

    monkeypatch.setattr(hub, "_desk_counts", counted_read)
    monkeypatch.setattr(hub, "COUNTS_SECONDS", 3600)
    sockets = [(await open_inbox(desk[name][1], counts=1))[0] for name in ("aiko", "ben", "sam")]

    numbers = await publish_updates(20)

    for socket in sockets:
        seen = [await receive(socket)]
        while seen[-1].get("seq") != numbers[-1]:
            seen.append(await receive(socket))
        counts = [frame for frame in seen if frame["type"] == "counts"]
        if not counts:  # the read may come after the last event was sent
            counts = [{"counts": await counts_frame(socket)}]
        assert len(counts) == 1
    assert len(reads) == 1
    for socket in sockets:
        await socket.disconnect(timeout=TIMEOUT)
