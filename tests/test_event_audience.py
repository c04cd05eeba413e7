"""Who is sent which event live (rules/event_audience.py): a transcript's own events
go to the sockets that have the conversation open (and a note to those it mentions),
everything else to everyone; watchers and catch-ups get everything."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction

from handoff.live.events import publish
from handoff.live.row_places import RowPlaces
from handoff.models import Team
from handoff.rules.event_audience import Audience, Place, reaches, transcript_audience
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
    assert transcript_audience(event) == expected


def test_an_audience_reaches_the_viewers_and_the_agents_it_names():
    audience = Audience(7, frozenset({"ben"}))
    assert reaches(audience, viewing=7, username="aiko")
    assert reaches(audience, viewing=None, username="ben")
    assert not reaches(audience, viewing=8, username="aiko")
    assert not reaches(audience, viewing=None, username="aiko")
    assert reaches(None, viewing=None, username="aiko")


def conversation(state: str, *, team=None, assignee=None, kind="escalated", id=7) -> dict:
    return {
        "type": "conversation.updated",
        "conversation": {"id": id, "state": state, "team": team, "assignee": assignee},
        "event": {"kind": kind} if kind else None,
    }


AIKO = {"username": "aiko", "viewing": None, "listing": "waiting", "teams": frozenset({"A"})}


@pytest.mark.parametrize(
    ("place", "listener", "shown"),
    [
        # Waiting in the agent's team or in no team: their Waiting queue, whatever list.
        (Place("waiting", "A", None), {}, True),
        (Place("waiting", None, None), {}, True),
        (Place("waiting", "B", None), {}, False),
        (Place("waiting", "B", None), {"teams": None}, True),  # staff see every team's
        # Their own conversations: the Mine tab, the alerts.
        (Place("assigned", "B", "aiko"), {}, True),
        (Place("assigned", "A", "ben"), {}, False),
        (Place("assigned", "A", "ben"), {"listing": "mine"}, False),
        # The bot's and the resolved rows: only on those lists.
        (Place("bot", None, None), {}, False),
        (Place("bot", None, None), {"listing": "bot"}, True),
        (Place("resolved", "A", "ben"), {"listing": "resolved"}, True),
        (Place("resolved", "A", "ben"), {"listing": "bot"}, False),
        # All (and a search) shows every row.
        (Place("assigned", "B", "ben"), {"listing": "all"}, True),
        # The open conversation, wherever it is.
        (Place("assigned", "B", "ben"), {"viewing": 7}, True),
    ],
)
def test_a_row_event_reaches_the_pages_that_show_the_row(place, listener, shown):
    assert reaches(Audience(7, places=(place,)), **{**AIKO, **listener}) is shown


def test_a_row_event_reaches_the_lists_the_row_leaves_as_well_as_those_it_enters():
    places = RowPlaces()
    assert places.audience(conversation("waiting", team="A")) is None  # not known yet
    moved = places.audience(conversation("waiting", team="B", kind="transferred"))
    assert moved.places == (Place("waiting", "A", None), Place("waiting", "B", None))
    assert reaches(moved, **AIKO)  # their queue drops the row
    taken = places.audience(conversation("assigned", team="B", assignee="ben", kind="claimed"))
    assert not reaches(taken, **AIKO)
    customer = places.audience(message("customer"))
    assert customer.places == (Place("assigned", "B", "ben"),)
    assert reaches(customer, **{**AIKO, "username": "ben"})
    assert not reaches(customer, **AIKO)


def test_a_conversation_just_opened_was_in_no_list_before():
    places = RowPlaces()
    opened = places.audience(conversation("bot", kind="opened"))
    assert opened.places == (Place("bot", None, None),)
    assert not reaches(opened, **AIKO)
    assert not reaches(places.audience(message("customer")), **AIKO)
    assert reaches(places.audience(message("customer")), **{**AIKO, "listing": "bot"})


def test_what_is_not_known_goes_to_everyone():
    places = RowPlaces(limit=2)
    assert places.audience(message("customer")) is None  # never seen
    for id in (7, 8, 9):
        places.audience(conversation("bot", kind="opened", id=id))
    assert len(places) == 2
    assert places.audience(message("customer")) is None  # 7 forgotten for room
    places.audience(conversation("bot", kind="opened"))
    places.audience({"type": "conversation.erased", "conversation_ids": [7]})
    assert places.audience(message("customer")) is None
    places.audience(conversation("bot", kind="opened"))
    places.forget_all()  # a resync skipped events
    assert places.audience(message("customer")) is None
    assert places.audience({"type": "presence", "agent": "ben"}) is None


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


@database_sync_to_async
def publish_events(*events: dict) -> list[int]:
    numbers = []
    for event in events:
        data = {key: value for key, value in event.items() if key != "type"}
        with transaction.atomic():
            published = publish(event["type"], data, conversation_id=7)
        numbers.append(published["seq"])  # numbered as the transaction committed
    return numbers


@database_sync_to_async
def teams_desk() -> dict[str, bytes]:
    """aiko in team A, ben in team B, chie and eri in none; a staff agent, dan."""
    cookies = {}
    for name, team in (("aiko", "A"), ("ben", "B"), ("chie", None), ("dan", None), ("eri", None)):
        user = make_user(name)
        if team:
            Team.objects.get_or_create(name=team)[0].members.add(user)
        if name == "dan":
            user.is_staff = True
            user.save()
        cookies[name] = session_cookie(user)
    return cookies


@pytest.mark.django_db(transaction=True)
@in_event_loop
async def test_each_page_is_sent_the_rows_of_its_lists_and_of_its_agent(
    agents_group, fresh_channel_layer
):
    desk = await teams_desk()
    aiko, _ = await open_inbox(desk["aiko"], listing="waiting")
    ben, _ = await open_inbox(desk["ben"], listing="mine")
    chie, _ = await open_inbox(desk["chie"], listing="bot")
    dan, _ = await open_inbox(desk["dan"], listing="resolved")  # staff: every team's queue
    every, _ = await open_inbox(desk["eri"])
    sockets = (aiko, ben, chie, dan, every)
    for socket in sockets:
        await drain(socket)

    opened, wrote, escalated, moved, claimed, answered = await publish_events(
        conversation("bot", kind="opened"),
        message("customer"),
        conversation("waiting", team="A"),
        conversation("waiting", team="B", kind="transferred"),
        conversation("assigned", team="B", assignee="ben", kind="claimed"),
        message("agent"),
    )

    expected = {
        aiko: [escalated, moved],  # into their team's queue, and out of it
        ben: [moved, claimed, answered],
        chie: [opened, wrote, escalated],  # the bot's list, until the bot let it go
        dan: [escalated, moved, claimed],
        every: [opened, wrote, escalated, moved, claimed, answered],  # never said: all
    }
    for socket, numbers in expected.items():
        assert [(await receive(socket))["seq"] for _ in numbers] == numbers
        await assert_silent(socket)

    # A page that switches lists says so first: from then on, that list's rows.
    await aiko.send_json_to({"type": "listing", "queue": "all"})
    await aiko.send_json_to({"type": "ping"})
    assert (await receive(aiko))["type"] == "pong"
    (again,) = await publish_events(message("customer"))
    assert (await receive(aiko))["seq"] == again
    await aiko.send_json_to({"type": "listing", "queue": "everything"})
    error = await receive(aiko)
    assert error == {
        "type": "error",
        "error": "'queue' must be one of all, bot, mine, resolved, waiting",
    }
    for socket in sockets:
        await socket.disconnect(timeout=TIMEOUT)
