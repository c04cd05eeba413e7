"""Who is sent which event live (rules/event_audience.py): a transcript's own events
go to the sockets that have the conversation open (and a note to those it mentions),
everything else to everyone; watchers and catch-ups get everything."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction

from handoff.live.events import publish
from handoff.rules.event_audience import Audience, audience_of, reaches
from tests.support.inbox_socket import (
    TIMEOUT,
    assert_silent,
    in_event_loop,
    make_user,
    open_inbox,
    receive,
    receive_until_caught_up,
    session_cookie,
)

DELIVERY = {"type": "message.delivery", "conversation_id": 7, "message_id": 3, "delivery": {}}


def message(author_kind: str) -> dict:
    return {
        "type": "message.created",
        "message": {"conversation_id": 7, "author_kind": author_kind},
    }


NOTE = {"type": "note.created", "note": {"conversation_id": 7, "mentions": ["ben"]}}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (DELIVERY, Audience(7)),
        (message("system"), Audience(7)),
        (message("customer"), None),
        (message("agent"), None),
        (message("bot"), None),
        (NOTE, Audience(7, frozenset({"ben"}))),
        ({"type": "conversation.updated", "conversation": {"id": 7}}, None),
        ({"type": "presence", "agent": "ben"}, None),
        ({"type": "access.changed", "agent_ids": [1]}, None),
        ({"type": "activity", "conversation_id": 7}, None),
    ],
)
def test_only_a_transcripts_own_events_are_for_its_viewers(event, expected):
    assert audience_of(event) == expected


def test_an_audience_reaches_the_viewers_and_the_agents_it_names():
    audience = Audience(7, frozenset({"ben"}))
    assert reaches(audience, viewing=7, username="aiko")
    assert reaches(audience, viewing=None, username="ben")
    assert not reaches(audience, viewing=8, username="aiko")
    assert not reaches(audience, viewing=None, username="aiko")
    assert reaches(None, viewing=None, username="aiko")


# On the socket


@pytest.fixture
def desk(agents_group, fresh_channel_layer) -> dict[str, bytes]:
    supervisor = get_user_model().objects.create_user("lead", password="lead-password-1")
    supervisor.user_permissions.add(Permission.objects.get(codename="supervise"))
    cookies = {name: session_cookie(make_user(name)) for name in ("aiko", "ben", "chie")}
    return {**cookies, "lead": session_cookie(supervisor)}


@database_sync_to_async
def publish_transcript_events() -> list[int]:
    """A delivery, a system notice and a note mentioning ben, all in conversation 7,
    then a customer's message there: four numbers."""
    numbers = []
    for event in (DELIVERY, message("system"), NOTE, message("customer")):
        data = {key: value for key, value in event.items() if key != "type"}
        with transaction.atomic():
            published = publish(event["type"], data, conversation_id=7)
        numbers.append(published["seq"])  # numbered as the transaction committed
    return numbers


async def drain(socket) -> None:
    while await socket.receive_nothing(timeout=0.3) is False:
        await receive(socket)


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_each_socket_is_sent_what_it_shows(desk):
    viewer, _ = await open_inbox(desk["aiko"], viewing=7)  # reconnected with it open
    mentioned, _ = await open_inbox(desk["ben"])
    elsewhere, _ = await open_inbox(desk["chie"])
    await elsewhere.send_json_to({"type": "viewing", "conversation_id": 8})
    watcher, _ = await open_inbox(desk["lead"])
    sockets = (viewer, mentioned, elsewhere, watcher)
    for socket in sockets:
        await drain(socket)  # the others coming online

    delivery, notice, note, customer = await publish_transcript_events()

    expected = {
        viewer: [delivery, notice, note, customer],
        mentioned: [note, customer],
        elsewhere: [customer],
        watcher: [delivery, notice, note, customer],
    }
    for socket, numbers in expected.items():
        assert [(await receive(socket))["seq"] for _ in numbers] == numbers
        await assert_silent(socket)
    for socket in sockets:
        await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_a_catch_up_replays_every_event_whatever_is_open(desk):
    socket, hello = await open_inbox(desk["chie"])
    await socket.disconnect(timeout=TIMEOUT)
    numbers = await publish_transcript_events()

    again, _ = await open_inbox(desk["chie"], after=hello["seq"])
    replayed = [frame["seq"] for frame in await receive_until_caught_up(again) if "seq" in frame]

    assert set(numbers) <= set(replayed)
    await again.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize("viewing", ["seven", "²", "0", "-7"])
@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_a_viewing_on_connecting_that_is_not_a_conversation_id_means_none(desk, viewing):
    socket, _ = await open_inbox(desk["chie"], viewing=viewing)
    await drain(socket)

    delivery, notice, note, customer = await publish_transcript_events()

    assert (await receive(socket))["seq"] == customer
    await assert_silent(socket)
    await socket.disconnect(timeout=TIMEOUT)
