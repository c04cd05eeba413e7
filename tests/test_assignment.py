"""Auto-assignment (issue 15, part 2): the ranking rules, the assigner against the
database with an injected clock, and the whole path on the running server.

The many-process race (two web and two worker processes on PostgreSQL and Redis) is in
tests/test_scale.py; the latency is measured by `make bench` (docs/benchmarks.md).
"""

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.models import (
    AgentPresence,
    AgentSeat,
    Conversation,
    ConversationEvent,
    HandoffSettings,
    Team,
    TopicRoute,
)
from handoff.rules.assignment import FreeAgent, eligible, explanation, ranked, takes_more
from handoff.selectors import desk
from handoff.services import assignment, conversations, seats
from handoff.services.transitions import ConversationConflict
from tests.conftest import wait_until
from tests.support.agents import agent_at_desk, login, open_inbox, receive_until
from tests.support.factories import make_conversation, webhook_body

State = Conversation.State
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def free(agent_id, *, room=4, capacity=4, last=None, teams=()):
    return FreeAgent(
        agent_id=agent_id,
        username=f"agent{agent_id}",
        capacity=capacity,
        open_count=capacity - room,
        last_assigned_at=last,
        team_ids=frozenset(teams),
    )


# --- Rules ------------------------------------------------------------------------------


def test_the_agent_with_the_most_room_comes_first_whatever_their_capacity():
    busy_fulltimer = free(1, room=2, capacity=8)
    idle_parttimer = free(2, room=3, capacity=3)
    assert [a.agent_id for a in ranked([busy_fulltimer, idle_parttimer])] == [2, 1]


def test_of_agents_with_equal_room_the_one_never_assigned_then_assigned_longest_ago_comes_first():
    recent = free(1, last=T0)
    earlier = free(2, last=T0 - timedelta(minutes=5))
    never = free(3)
    assert [a.agent_id for a in ranked([recent, earlier, never])] == [3, 2, 1]


def test_equal_agents_are_ranked_by_id_so_every_assigner_picks_the_same_one():
    assert [a.agent_id for a in ranked([free(7, last=T0), free(3, last=T0)])] == [3, 7]


def test_a_team_conversation_goes_only_to_members_and_never_back_to_the_agent_passed_over():
    billing, desk_only, both = free(1, teams={10}), free(2, teams={20}), free(3, teams={10, 20})
    agents = [billing, desk_only, both]
    assert eligible(agents, team_id=10, passed_over=None) == [billing, both]
    assert eligible(agents, team_id=None, passed_over=None) == agents
    assert eligible(agents, team_id=10, passed_over=1) == [both]


def test_the_explanation_names_the_agent_their_load_after_and_who_else_was_free():
    chosen, other = free(1, room=3, capacity=4), free(2, room=1, capacity=4)
    assert explanation(chosen, [chosen, other]) == {
        "to": "agent1",
        "open_count": 2,
        "capacity": 4,
        "others_free": ["agent2"],
    }


def test_an_agent_takes_more_only_while_available_and_below_capacity():
    assert takes_more(status="available", open_count=3, capacity=4)
    assert not takes_more(status="available", open_count=4, capacity=4)
    assert not takes_more(status="away", open_count=0, capacity=4)


def test_the_explanation_never_lists_the_chosen_agent_among_the_others_after_a_recount():
    chosen = free(1, room=3)
    recounted = free(1, room=2)  # read again under the seat lock: one more open
    assert explanation(recounted, [chosen, free(2)])["others_free"] == ["agent2"]


# --- The assigner, in process ---------------------------------------------------------------


def agent(username, *, capacity=4, status="available", online=True):
    return agent_at_desk(username, capacity=capacity, status=status, online=online)


def waiting(minutes_ago: float = 0, **fields) -> Conversation:
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    return make_conversation(
        state=State.WAITING, escalated_at=moment, waiting_since=moment, **fields
    )


def assign_all() -> int:
    given = 0
    while assignment.assign_next():
        given += 1
        assert given < 1000, "the assigner does not stop"
    return given


def owners() -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in Conversation.objects.filter(state=State.ASSIGNED).values_list(
        "assignee__username", flat=True
    ):
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture
def auto_assign(db):
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    return row


def test_waiting_conversations_fill_available_agents_to_capacity_and_never_the_away_one(
    agents_group, auto_assign
):
    agent("aiko")
    agent("ben")
    agent("carl", status="away")
    queue = [waiting(minutes_ago=10 - n) for n in range(10)]

    assert assign_all() == 8
    assert owners() == {"aiko": 4, "ben": 4}
    left = Conversation.objects.filter(state=State.WAITING).order_by("escalated_at")
    assert list(left) == queue[8:]  # the two that came last wait


def test_the_longest_waiting_conversation_goes_first_to_the_agent_with_the_most_room(
    agents_group, auto_assign
):
    aiko = agent("aiko", capacity=2)
    ben = agent("ben", capacity=4)
    newer = waiting(minutes_ago=1)
    older = waiting(minutes_ago=5)

    assert assignment.assign_next()
    older.refresh_from_db()
    assert (older.state, older.assignee) == (State.ASSIGNED, ben)
    assert assignment.assign_next()
    newer.refresh_from_db()
    # ben has 3 of 4 left, aiko 2 of 2: ben still has the most room
    assert newer.assignee == ben
    assert not AgentSeat.objects.get(agent=aiko).last_assigned_at


def test_an_offline_agent_gets_nothing_and_coming_online_is_enough(agents_group, auto_assign):
    aiko = agent("aiko", online=False)
    conversation = waiting()
    assert not assignment.assign_next()

    AgentPresence.objects.create(agent=aiko, channel_name="test!aiko-now")
    assert assignment.assign_next()
    conversation.refresh_from_db()
    assert conversation.assignee == aiko


def test_a_stale_socket_counts_as_offline(agents_group, auto_assign):
    aiko = agent("aiko", online=False)
    AgentPresence.objects.create(
        agent=aiko, channel_name="test!old", seen_at=timezone.now() - timedelta(minutes=5)
    )
    waiting()
    assert not assignment.assign_next()


def test_nothing_is_assigned_while_admin_has_auto_assignment_off(agents_group, auto_assign):
    agent("aiko")
    waiting()
    auto_assign.auto_assign = False
    auto_assign.save()
    assert not assignment.assign_next()
    assert not Conversation.objects.filter(state=State.ASSIGNED).exists()


def test_the_event_says_assigned_by_handoff_to_whom_and_why(agents_group, auto_assign):
    agent("aiko")
    agent("ben", capacity=2)
    conversation = waiting()
    assert assignment.assign_next()

    event = ConversationEvent.objects.get(conversation=conversation, kind="assigned")
    assert (event.actor, event.actor_kind) == (None, "system")
    assert event.data == {
        "to": "aiko",
        "open_count": 1,
        "capacity": 4,
        "others_free": ["ben"],
        "team": None,
    }


def test_a_team_conversation_waits_for_a_member_and_a_teamless_one_goes_to_anyone(
    agents_group, auto_assign
):
    aiko = agent("aiko")
    ben = agent("ben")
    billing = Team.objects.create(name="Billing")
    billing.members.add(ben)
    for_billing = waiting(minutes_ago=5, team=billing)
    for_anyone = waiting(minutes_ago=1)

    assert assign_all() == 2
    for_billing.refresh_from_db()
    for_anyone.refresh_from_db()
    assert for_billing.assignee == ben
    # Both had 4 free when the second was given; aiko had never been assigned.
    assert for_anyone.assignee == aiko

    only_members = waiting(team=billing)
    seats.set_status(agent=ben, status="away")
    assert not assignment.assign_next()
    only_members.refresh_from_db()
    assert only_members.state == State.WAITING


def test_a_conversation_is_not_given_back_to_the_agent_it_was_taken_from(agents_group, auto_assign):
    aiko = agent("aiko")
    conversation = waiting(passed_over=aiko)
    later = waiting()

    assert assignment.assign_next()  # the one behind it is not held up
    later.refresh_from_db()
    assert later.assignee == aiko
    assert not assignment.assign_next()

    ben = agent("ben")
    assert assignment.assign_next()
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.passed_over) == (ben, None)


ASSIGNER_WAKE = wakeups._events[wakeups.ASSIGNMENT].set


def hand_over(conversation: Conversation) -> Conversation | None:
    """What routing does: escalate in its own transaction."""
    with transaction.atomic():
        return conversations.escalate(conversation_id=conversation.pk, kind="keyword")


def test_a_hand_over_is_assigned_in_its_own_commit_with_the_events_in_order(
    agents_group, auto_assign, django_capture_on_commit_callbacks
):
    aiko = agent("aiko")
    conversation = make_conversation(state=State.BOT)
    with django_capture_on_commit_callbacks() as wakes:
        handed = hand_over(conversation)

    assert (handed.state, handed.assignee) == (State.ASSIGNED, aiko)
    kinds = list(
        ConversationEvent.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds.index("escalated") < kinds.index("assigned")
    assert not assignment.assign_next()  # nothing left for the assigner
    assert ASSIGNER_WAKE not in wakes, "an assigned hand-over does not wake the assigner"


def test_a_hand_over_waits_its_turn_behind_an_older_conversation(agents_group, auto_assign):
    aiko = agent("aiko", capacity=1)
    older = waiting(minutes_ago=5)
    newer = make_conversation(state=State.BOT)

    assert hand_over(newer).state == State.WAITING
    assert assign_all() == 1
    older.refresh_from_db()
    assert older.assignee == aiko


def test_a_hand_over_with_no_one_free_waits_and_wakes_the_assigner(
    agents_group, auto_assign, django_capture_on_commit_callbacks
):
    agent("aiko", status="away")
    conversation = make_conversation(state=State.BOT)
    with django_capture_on_commit_callbacks() as wakes:
        assert hand_over(conversation).state == State.WAITING
    assert ASSIGNER_WAKE in wakes


def test_a_hand_over_is_not_assigned_while_auto_assignment_is_off(agents_group, auto_assign):
    agent("aiko")
    auto_assign.auto_assign = False
    auto_assign.save()
    assert hand_over(make_conversation(state=State.BOT)).state == State.WAITING


def test_an_agent_claiming_by_hand_first_wins_and_the_assigner_moves_on(
    agents_group, auto_assign, monkeypatch
):
    aiko = agent("aiko")
    ben = agent("ben")
    first = waiting(minutes_ago=2)
    second = waiting(minutes_ago=1)
    real_lock = desk.lock_waiting

    def ben_claims_first(conversation_id):
        if (
            conversation_id == first.pk
            and not Conversation.objects.filter(pk=first.pk, state=State.ASSIGNED).exists()
        ):
            conversations.claim(conversation_id=first.pk, agent=ben)
        return real_lock(conversation_id)

    monkeypatch.setattr(desk, "lock_waiting", ben_claims_first)
    assign_all()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.assignee == ben
    assert second.assignee == aiko  # ranked first when read: never assigned, lower id
    assert not ConversationEvent.objects.filter(conversation=first, kind="assigned").exists()


def test_an_agent_who_went_away_after_being_chosen_is_not_given_it(
    agents_group, auto_assign, monkeypatch
):
    aiko = agent("aiko")
    conversation = waiting()
    real_lock = seats.lock_seat

    def aiko_goes_away_just_before_her_seat_is_locked(agent_id):
        # What her own set_status would have committed a moment earlier.
        AgentSeat.objects.filter(agent=aiko).update(status="away")
        return real_lock(agent_id)

    monkeypatch.setattr(seats, "lock_seat", aiko_goes_away_just_before_her_seat_is_locked)
    assignment.assign_next()
    conversation.refresh_from_db()
    assert conversation.state == State.WAITING


def test_an_agent_who_filled_up_after_being_chosen_is_not_given_it(
    agents_group, auto_assign, monkeypatch
):
    aiko = agent("aiko", capacity=1)
    conversation = waiting(minutes_ago=1)
    other = make_conversation(state=State.WAITING, escalated_at=timezone.now())
    real_lock = seats.lock_seat

    def aiko_claims_another_first(agent_id):
        if not Conversation.objects.filter(assignee=aiko).exists():
            conversations.claim(conversation_id=other.pk, agent=aiko)
        return real_lock(agent_id)

    monkeypatch.setattr(seats, "lock_seat", aiko_claims_another_first)
    assignment.assign_next()
    conversation.refresh_from_db()
    assert conversation.state == State.WAITING
    assert owners() == {"aiko": 1}


def test_resolving_makes_room_for_the_longest_waiting_of_the_rest(agents_group, auto_assign):
    aiko = agent("aiko", capacity=1)
    first = waiting(minutes_ago=9)
    older = waiting(minutes_ago=8)
    newer = waiting(minutes_ago=7)
    assert assign_all() == 1

    conversations.resolve(conversation_id=first.pk, agent=aiko)
    assert assign_all() == 1
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.assignee, newer.state) == (aiko, State.WAITING)


# --- Transfers and capacity -----------------------------------------------------------------


def test_an_agent_cannot_transfer_to_a_colleague_at_capacity_but_staff_can(agents_group):
    aiko = agent("aiko")
    ben = agent("ben", capacity=1)
    boss = agent("boss")
    boss.is_staff = True
    boss.save()
    make_conversation(state=State.ASSIGNED, assignee=ben)
    mine = make_conversation(state=State.ASSIGNED, assignee=aiko)

    with pytest.raises(ConversationConflict) as refused:
        conversations.transfer(conversation_id=mine.pk, agent=aiko, to_agent=ben)
    assert refused.value.message == (
        "ben already has 1 of 1 open conversations; a supervisor can still give them this one."
    )
    mine.refresh_from_db()
    assert mine.assignee == aiko  # nothing changed

    conversations.transfer(conversation_id=mine.pk, agent=boss, to_agent=ben)
    event = ConversationEvent.objects.filter(conversation=mine, kind="transferred").get()
    assert event.data == {"from": "aiko", "to": "ben", "over_capacity": True}


def test_claiming_by_hand_is_not_limited_by_capacity(agents_group):
    aiko = agent("aiko", capacity=1)
    make_conversation(state=State.ASSIGNED, assignee=aiko)
    extra = waiting()
    conversations.claim(conversation_id=extra.pk, agent=aiko)
    assert owners() == {"aiko": 2}


# --- On the running server ------------------------------------------------------------------


def everyone_to_agents() -> None:
    TopicRoute.objects.create(
        topic="desk", destination=TopicRoute.Destination.AGENTS, is_default=True
    )


@pytest.mark.server
def test_ten_hand_overs_fill_two_available_agents_and_a_resolve_takes_the_longest_waiting(
    live, agents_group
):
    """The issue's acceptance: three agents of capacity 4, two available and one away."""
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    everyone_to_agents()
    users = {name: agent(name, online=False) for name in ("aiko", "ben", "carl")}
    seats.set_status(agent=users["carl"], status="away")
    sessions = {name: login(live.url, name) for name in users}
    with contextlib.ExitStack() as stack:
        sockets = {
            name: stack.enter_context(open_inbox(live.url, session))
            for name, session in sessions.items()
        }
        for socket in sockets.values():
            json.loads(socket.recv(timeout=5))  # hello: each agent is online from here

        started = time.monotonic()
        for n in range(10):
            response = live.post_webhook(webhook_body(f"u-{n}", f"help {n}"))
            assert response.status_code == 200, response.text
        # Each available agent is told of their four, each as it happens.
        for name in ("aiko", "ben"):
            for _ in range(4):
                receive_until(
                    sockets[name],
                    lambda e, name=name: (
                        e.get("type") == "conversation.updated"
                        and (e.get("event") or {}).get("kind") == "assigned"
                        and e["event"]["data"]["to"] == name
                    ),
                    timeout=30,
                )
        elapsed = time.monotonic() - started
        wait_until(lambda: Conversation.objects.filter(state=State.WAITING).count() == 2)
        assert owners() == {"aiko": 4, "ben": 4}
        print(f"ten hand-overs, eight assigned, in {elapsed:.2f} s")

        left = list(Conversation.objects.filter(state=State.WAITING).order_by("escalated_at", "pk"))
        done = Conversation.objects.filter(assignee=users["aiko"]).first()
        session = sessions["aiko"]
        answer = session.post(
            f"{live.url}/api/conversations/{done.pk}/resolve/",
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assigned = receive_until(
            sockets["aiko"],
            lambda e: (
                (e.get("event") or {}).get("kind") == "assigned"
                and e["event"]["data"]["to"] == "aiko"
            ),
            timeout=30,
        )
        assert assigned["conversation"]["id"] == left[0].pk  # the longest waiting
        wait_until(lambda: Conversation.objects.filter(state=State.WAITING).count() == 1)
        assert list(Conversation.objects.filter(state=State.WAITING)) == [left[1]]
        assert owners() == {"aiko": 4, "ben": 4}


# --- Admin ----------------------------------------------------------------------------------


def test_admin_lists_teams_with_members_and_waiting_and_agents_with_their_teams(
    admin_client, agents_group
):
    aiko = agent("aiko", online=False)
    billing = Team.objects.create(name="Billing", reply_timer_minutes=10)
    billing.members.add(aiko)
    waiting(team=billing)
    waiting(team=billing)

    teams = admin_client.get("/admin/handoff/team/").content.decode()
    assert "Billing" in teams
    assert '<td class="field-member_count">1</td>' in teams
    assert '<td class="field-waiting">2</td>' in teams
    agents_page = admin_client.get("/admin/handoff/agentseat/").content.decode()
    assert '<td class="field-team_names">Billing</td>' in agents_page


def test_admin_saving_a_team_offers_only_agents_and_wakes_the_assigner(
    admin_client, agents_group, monkeypatch
):
    aiko = agent("aiko", online=False)
    get_user_model().objects.create_user("visitor")
    woken = []
    monkeypatch.setattr(assignment, "wake_assigner", lambda: woken.append(True))

    form = admin_client.get("/admin/handoff/team/add/").content.decode()
    assert "aiko" in form and "visitor" not in form
    answer = admin_client.post("/admin/handoff/team/add/", {"name": "Tier 2", "members": [aiko.pk]})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert list(Team.objects.get(name="Tier 2").members.all()) == [aiko]
    assert woken


def test_admin_shows_a_conversations_team_and_clocks_but_never_edits_them(
    admin_client, agents_group
):
    billing = Team.objects.create(name="Billing")
    conversation = waiting(team=billing)
    page = admin_client.get(f"/admin/handoff/conversation/{conversation.pk}/change/")
    html = page.content.decode()
    assert 'name="team"' not in html and 'name="reply_due_at"' not in html
    assert "Billing" in html
