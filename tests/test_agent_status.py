"""Agents' status and capacity (issue 15, part 1): the seat services, the grace period
before an agent counts as offline, the load every inbox is told about, `createagent
--capacity` and admin's list of agents.

The API is in tests/test_api.py, the socket in tests/test_inbox_socket.py, the page in
tests/test_browser_status.py. The grace period is tested with an injected clock (the
`now` the presence functions take), never by waiting for it.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from handoff.live import presence
from handoff.live.events import as_sent, latest_seq
from handoff.models import AgentPresence, AgentSeat, Conversation, ConversationEvent, InboxEvent
from handoff.rules.agents import capacity_problem, shown_status
from handoff.selectors.agents import roster
from handoff.services import campaigns, conversations, erasure, seats
from tests.support.agents import make_agent
from tests.support.factories import make_conversation

pytestmark = pytest.mark.django_db

State = Conversation.State


def agent(username: str):
    make_agent(username)
    return get_user_model().objects.get(username=username)


@pytest.fixture
def aiko(agents_group):
    return agent("aiko")


@pytest.fixture
def ben(agents_group):
    return agent("ben")


def presence_after(seq: int) -> list[dict]:
    """The presence events published after `seq`, as sent, without their numbers."""
    rows = InboxEvent.objects.filter(pk__gt=seq, kind="presence").order_by("pk")
    return [{k: v for k, v in as_sent(row).items() if k not in ("seq", "type")} for row in rows]


# --- Rules -------------------------------------------------------------------------------


def test_others_see_the_chosen_status_while_online_and_offline_otherwise():
    assert shown_status("away", online=True) == "away"
    assert shown_status("available", online=True) == "available"
    assert shown_status("away", online=False) == "offline"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (1, None),
        (999, None),
        (0, "must be from 1 to 999; got 0"),
        (1000, "must be from 1 to 999; got 1000"),
        (-3, "must be from 1 to 999; got -3"),
        (True, "must be a whole number"),
        (2.0, "must be a whole number"),
        ("4", "must be a whole number"),
    ],
)
def test_a_capacity_is_a_whole_number_from_1_to_999(value, problem):
    assert capacity_problem(value) == problem


# --- Status -------------------------------------------------------------------------------


def test_choosing_away_announces_it_and_records_nothing_on_conversations(aiko):
    held = make_conversation(state=State.ASSIGNED, assignee=aiko, assigned_at=timezone.now())
    AgentPresence.objects.create(agent=aiko, channel_name="aiko-socket")
    events_before, seq = ConversationEvent.objects.count(), latest_seq()

    seat = seats.set_status(agent=aiko, status="away")

    assert (seat.status, AgentSeat.objects.get(agent=aiko).status) == ("away", "away")
    assert presence_after(seq) == [
        {"agent": "aiko", "online": True, "status": "away", "capacity": 5, "open_count": 1}
    ]
    assert ConversationEvent.objects.count() == events_before
    held.refresh_from_db()
    assert (held.state, held.assignee_id) == (State.ASSIGNED, aiko.pk)  # still hers


def test_choosing_the_status_one_already_has_announces_nothing(aiko):
    seats.set_status(agent=aiko, status="away")
    changed_at = AgentSeat.objects.get(agent=aiko).status_changed_at
    seq = latest_seq()

    seats.set_status(agent=aiko, status="away")

    assert presence_after(seq) == []
    assert AgentSeat.objects.get(agent=aiko).status_changed_at == changed_at


def test_a_status_change_stamps_when_it_happened(aiko):
    before = timezone.now()

    seats.set_status(agent=aiko, status="away")

    assert AgentSeat.objects.get(agent=aiko).status_changed_at >= before


@pytest.mark.parametrize("status", ["offline", "busy", ""])
def test_the_service_refuses_a_status_that_is_not_chosen(aiko, status):
    with pytest.raises(ValueError, match="available or away"):
        seats.set_status(agent=aiko, status=status)
    assert not AgentSeat.objects.exists()


def test_an_agent_without_a_seat_row_is_available_with_the_default_capacity(aiko, settings):
    settings.HANDOFF_DEFAULT_CAPACITY = 7

    [entry] = roster()

    assert (entry["status"], entry["capacity"], entry["open_count"]) == ("offline", 7, 0)
    assert presence.seats([aiko.pk])[aiko.pk] == presence.Seat("available", 7, 0)
    assert not AgentSeat.objects.exists()  # reading made no row


# --- Capacity -----------------------------------------------------------------------------


def test_admin_sets_a_capacity_and_every_inbox_is_told(aiko):
    seq = latest_seq()

    seats.set_capacity(agent_id=aiko.pk, capacity=3)

    assert AgentSeat.objects.get(agent=aiko).capacity == 3
    assert presence_after(seq) == [
        {"agent": "aiko", "online": False, "status": "offline", "capacity": 3, "open_count": 0}
    ]


def test_clearing_a_capacity_goes_back_to_the_default(aiko, settings):
    settings.HANDOFF_DEFAULT_CAPACITY = 6
    seats.set_capacity(agent_id=aiko.pk, capacity=3)
    seq = latest_seq()

    seats.set_capacity(agent_id=aiko.pk, capacity=None)

    assert AgentSeat.objects.get(agent=aiko).capacity is None
    assert [e["capacity"] for e in presence_after(seq)] == [6]


@pytest.mark.parametrize("capacity", [0, 1000, -1])
def test_the_service_refuses_a_capacity_outside_1_to_999(aiko, capacity):
    with pytest.raises(ValueError, match="from 1 to 999"):
        seats.set_capacity(agent_id=aiko.pk, capacity=capacity)
    assert not AgentSeat.objects.exists()


def test_the_database_refuses_a_capacity_outside_1_to_999_too(aiko):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentSeat.objects.create(agent=aiko, capacity=0)


# --- Load: every change of hands tells the inboxes the counts ------------------------------


def announced_load(seq: int) -> dict[str, int]:
    """Each agent's open count in their latest presence event after `seq`."""
    return {event["agent"]: event["open_count"] for event in presence_after(seq)}


def actual_load(*users) -> dict[str, int]:
    return {
        user.username: Conversation.objects.filter(state=State.ASSIGNED, assignee=user).count()
        for user in users
    }


def waiting():
    return make_conversation(state=State.WAITING, escalated_at=timezone.now()).pk


def test_claim_transfer_release_and_resolve_each_announce_the_new_counts(aiko, ben):
    first, second = waiting(), waiting()
    steps = [
        (lambda: conversations.claim(conversation_id=first, agent=aiko), {"aiko"}),
        (lambda: conversations.claim(conversation_id=second, agent=aiko), {"aiko"}),
        (
            lambda: conversations.transfer(conversation_id=first, agent=aiko, to_agent=ben),
            {"aiko", "ben"},
        ),
        (lambda: conversations.release(conversation_id=first, agent=ben), {"ben"}),
        (lambda: conversations.resolve(conversation_id=second, agent=aiko), {"aiko"}),
    ]
    for step, told in steps:
        seq = latest_seq()
        step()
        assert set(announced_load(seq)) == told
        assert announced_load(seq) == {
            name: count for name, count in actual_load(aiko, ben).items() if name in told
        }


def test_taking_over_from_the_bot_announces_the_new_count(aiko):
    bot = make_conversation(state=State.BOT).pk
    seq = latest_seq()

    conversations.take_over(conversation_id=bot, agent=aiko)

    assert announced_load(seq) == {"aiko": 1}


def test_resolving_a_waiting_conversation_announces_no_load(aiko):
    conversation = waiting()
    seq = latest_seq()

    conversations.resolve(conversation_id=conversation, agent=aiko)

    assert presence_after(seq) == []


def test_a_template_that_reopens_a_conversation_announces_the_new_count(aiko):
    from handoff.models import BrazeCampaign

    template = BrazeCampaign.objects.create(
        name="Order", key="order", campaign_id="c-order", kind=BrazeCampaign.Kind.TEMPLATE
    )
    done = make_conversation(state=State.RESOLVED, assignee=aiko, resolved_at=timezone.now()).pk
    seq = latest_seq()

    campaigns.send_campaign(conversation_id=done, agent=aiko, campaign=template.key, properties={})

    assert announced_load(seq) == {"aiko": 1}


def test_erasing_a_customer_announces_the_load_of_who_held_their_conversation(aiko):
    held = make_conversation(state=State.ASSIGNED, assignee=aiko, assigned_at=timezone.now())
    seq = latest_seq()

    erasure.erase_contact(external_id=held.contact.external_id, source="command")

    assert announced_load(seq) == {"aiko": 0}


# --- Online, with a grace period after the last socket closes -----------------------------


@pytest.fixture
def grace(settings):
    settings.HANDOFF_OFFLINE_GRACE_SECONDS = 30
    return timedelta(seconds=30)


def test_a_reload_within_the_grace_period_announces_nothing(aiko, grace):
    presence.socket_opened(aiko.pk, "tab-before-reload")
    seq = latest_seq()
    closed = timezone.now()

    presence.socket_closed(aiko.pk, "tab-before-reload", now=closed)
    presence.socket_opened(aiko.pk, "tab-after-reload")
    presence.forget_stale_sockets(now=closed + grace + timedelta(seconds=1))

    assert presence_after(seq) == []
    assert presence.online_agent_ids(now=closed + grace * 2) == {aiko.pk}
    assert list(AgentPresence.objects.values_list("channel_name", flat=True)) == [
        "tab-after-reload"
    ]


def test_an_agent_is_announced_offline_only_once_the_grace_period_has_passed(aiko, grace):
    presence.socket_opened(aiko.pk, "only-tab")
    seats.set_status(agent=aiko, status="away")
    seq = latest_seq()
    closed = timezone.now()

    presence.socket_closed(aiko.pk, "only-tab", now=closed)
    assert presence_after(seq) == []
    assert presence.online_agent_ids(now=closed + grace - timedelta(seconds=1)) == {aiko.pk}

    assert presence.forget_stale_sockets(now=closed + grace - timedelta(seconds=1)) == 0
    assert presence_after(seq) == []

    later = closed + grace + timedelta(seconds=1)
    assert presence.online_agent_ids(now=later) == set()
    assert presence.forget_stale_sockets(now=later) == 1
    assert presence_after(seq) == [
        {"agent": "aiko", "online": False, "status": "offline", "capacity": 5, "open_count": 0}
    ]
    assert AgentSeat.objects.get(agent=aiko).status == "away"  # kept for her return


def test_an_agent_coming_back_after_being_announced_offline_shows_their_chosen_status(aiko, grace):
    seats.set_status(agent=aiko, status="away")
    seq = latest_seq()

    presence.socket_opened(aiko.pk, "morning-tab")

    assert presence_after(seq) == [
        {"agent": "aiko", "online": True, "status": "away", "capacity": 5, "open_count": 0}
    ]


def test_with_no_grace_the_last_socket_closing_announces_offline_at_once(aiko, settings):
    settings.HANDOFF_OFFLINE_GRACE_SECONDS = 0
    presence.socket_opened(aiko.pk, "tab")
    seq = latest_seq()

    presence.socket_closed(aiko.pk, "tab")

    assert [e["online"] for e in presence_after(seq)] == [False]
    assert not AgentPresence.objects.exists()


@pytest.mark.parametrize(("grace_seconds", "every"), [(30, 10.0), (1, 0.5), (0, 25.0), (600, 25.0)])
def test_the_sweep_runs_often_enough_to_announce_offline_soon_after_the_grace(
    settings, grace_seconds, every
):
    settings.HANDOFF_OFFLINE_GRACE_SECONDS = grace_seconds

    assert presence.sweep_seconds() == every


# --- createagent --capacity ---------------------------------------------------------------


def test_createagent_sets_the_capacity_and_announces_it(agents_group):
    seq = latest_seq()
    out = StringIO()

    call_command("createagent", "aiko", "--no-input", "--capacity", "4", stdout=out)

    user = get_user_model().objects.get(username="aiko")
    assert AgentSeat.objects.get(agent=user).capacity == 4
    assert "Created agent aiko (capacity 4)." in out.getvalue()
    assert [e["capacity"] for e in presence_after(seq)] == [4]


def test_createagent_without_capacity_keeps_what_admin_set(aiko):
    seats.set_capacity(agent_id=aiko.pk, capacity=8)

    call_command("createagent", "aiko", "--no-input", stdout=StringIO())

    assert AgentSeat.objects.get(agent=aiko).capacity == 8


@pytest.mark.parametrize("capacity", ["0", "1000", "-2"])
def test_createagent_refuses_a_capacity_outside_1_to_999_and_changes_nothing(
    agents_group, capacity
):
    with pytest.raises(CommandError, match=r"--capacity must be from 1 to 999; got -?\d+\. "):
        call_command("createagent", "dan", "--no-input", "--capacity", capacity)

    assert not get_user_model().objects.filter(username="dan").exists()


def test_createagent_refuses_a_capacity_that_is_not_a_number(agents_group):
    with pytest.raises(CommandError, match="invalid int value: 'many'"):
        call_command("createagent", "dan", "--no-input", "--capacity", "many")


# --- Admin ---------------------------------------------------------------------------------


def test_admins_list_every_agent_with_status_capacity_load_and_online(admin_client, aiko, ben):
    seats.set_capacity(agent_id=ben.pk, capacity=2)
    make_conversation(state=State.ASSIGNED, assignee=ben, assigned_at=timezone.now())
    AgentPresence.objects.create(agent=ben, channel_name="ben-socket")
    get_user_model().objects.create_user("visitor")

    page = admin_client.get("/admin/handoff/agentseat/").content.decode()

    assert "aiko" in page and "ben" in page and "visitor" not in page
    assert "0 of 5 (default capacity)" in page  # aiko: no row until this page made one
    assert "1 of 2" in page
    assert AgentSeat.objects.filter(agent=aiko).exists()


def test_admin_changes_status_and_capacity_through_the_services(admin_client, aiko):
    seats.set_status(agent=aiko, status="available")
    seq = latest_seq()

    response = admin_client.post(
        f"/admin/handoff/agentseat/{aiko.pk}/change/", {"status": "away", "capacity": "3"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    seat = AgentSeat.objects.get(agent=aiko)
    assert (seat.status, seat.capacity) == ("away", 3)
    assert [(e["status"], e["capacity"]) for e in presence_after(seq)] == [
        ("offline", 5),  # the status: aiko has no inbox open
        ("offline", 3),
    ]


@pytest.mark.parametrize("capacity", ["0", "1000"])
def test_admin_refuses_a_capacity_outside_1_to_999(admin_client, aiko, capacity):
    seats.set_status(agent=aiko, status="available")

    response = admin_client.post(
        f"/admin/handoff/agentseat/{aiko.pk}/change/", {"status": "available", "capacity": capacity}
    )

    assert response.status_code == 200  # the form again, with the error
    assert "errornote" in response.content.decode()
    assert AgentSeat.objects.get(agent=aiko).capacity is None
