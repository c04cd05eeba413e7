"""The window-aware serving order (issue 17, point 2): oldest hand-over first, except a
customer whose WhatsApp window would close before they are likely to be served, who
goes ahead (earliest deadline first among those at risk): the rule
(rules/queue_order.py), the stored priority the assigner, the place told and the
Waiting list read (services/window_priority.py), and the whole path on the running
server."""

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff.models import (
    BrazeCampaign,
    Contact,
    Conversation,
    ConversationEvent,
    HandoffSettings,
    Team,
    TopicRoute,
)
from handoff.rules.queue_order import (
    ANSWER_TIME,
    InLine,
    at_risk,
    deadlines,
    oldest_first_places,
    serving_key,
)
from handoff.selectors import desk, inbox, queue_place
from handoff.services import assignment, conversations, window_priority
from tests.conftest import wait_until
from tests.support.agents import agent_at_desk, login, open_inbox, receive_until
from tests.support.factories import make_conversation, webhook_body

State = Conversation.State
NOW = datetime(2027, 1, 13, 3, 0, tzinfo=UTC)
TEN_MINUTES = 600.0


def line(id, *, minutes_ago, closes_in=None, team=None) -> InLine:
    return InLine(
        id=id,
        team_id=team,
        escalated_at=NOW - timedelta(minutes=minutes_ago),
        window_closes_at=None if closes_in is None else NOW + timedelta(minutes=closes_in),
    )


def flat(wait: float | None):
    """A desk that serves every place within `wait` seconds for sure (None: no one
    serves), and never sooner."""
    return lambda team_id, place, seconds: None if wait is None else float(seconds >= wait)


def per_place(seconds_each: float):
    return lambda team_id, place, seconds: float(seconds >= seconds_each * place)


def in_serving_order(waiting, *, now, chance) -> list[InLine]:
    """The order the product serves in: the rule's deadlines (what the service keeps
    on the rows), then its sort key (what the SQL orders by)."""
    serve_by = deadlines(waiting, now=now, chance=chance)
    return sorted(
        waiting,
        key=lambda e: serving_key(
            serve_by=serve_by.get(e.id), escalated_at=e.escalated_at, id=e.id
        ),
    )


# --- The rule -------------------------------------------------------------------------


def test_places_count_the_teams_older_ones_and_the_older_ones_of_no_team():
    waiting = [
        line(1, minutes_ago=50, team=7),
        line(2, minutes_ago=40),
        line(3, minutes_ago=30, team=8),
        line(4, minutes_ago=20, team=7),
        line(5, minutes_ago=10),
    ]
    # Team 7's line: 1, 2 (everyone's), 4; team 8's: 2, 3; no team: everyone before.
    assert oldest_first_places(waiting) == {1: 1, 2: 2, 3: 2, 4: 3, 5: 5}


def test_a_customer_is_at_risk_when_the_window_closes_before_the_likely_wait_and_an_answer():
    wait = flat(TEN_MINUTES)
    margin = (TEN_MINUTES + ANSWER_TIME.total_seconds()) / 60
    assert at_risk(line(1, minutes_ago=0, closes_in=margin - 1), place=1, now=NOW, chance=wait)
    assert not at_risk(line(1, minutes_ago=0, closes_in=margin), place=1, now=NOW, chance=wait)


@pytest.mark.parametrize(
    "entry, wait",
    [
        (line(1, minutes_ago=0, closes_in=-1), flat(TEN_MINUTES)),  # already closed
        (line(1, minutes_ago=0, closes_in=None), flat(TEN_MINUTES)),  # never wrote
        (line(1, minutes_ago=0, closes_in=5), flat(None)),  # no one at their desk
    ],
    ids=["closed", "never-wrote", "nobody-serving"],
)
def test_no_priority_where_serving_sooner_saves_nothing(entry, wait):
    assert not at_risk(entry, place=1, now=NOW, chance=wait)


def test_those_at_risk_go_first_soonest_deadline_first_then_the_oldest():
    waiting = [
        line(1, minutes_ago=60, closes_in=24 * 60),
        line(2, minutes_ago=50, closes_in=24 * 60),
        line(3, minutes_ago=40, closes_in=90),  # at place 3, likely served in 30 min: safe
        line(4, minutes_ago=30, closes_in=35),  # at place 4: 40 min + answer time: at risk
        line(5, minutes_ago=20, closes_in=20),  # at risk, sooner
        line(6, minutes_ago=10, closes_in=24 * 60),
    ]
    order = in_serving_order(waiting, now=NOW, chance=per_place(TEN_MINUTES))
    assert [entry.id for entry in order] == [5, 4, 1, 2, 3, 6]
    assert deadlines(waiting, now=NOW, chance=per_place(TEN_MINUTES)) == {
        4: NOW + timedelta(minutes=35),
        5: NOW + timedelta(minutes=20),
    }


def test_under_overload_one_who_would_lapse_anyway_keeps_their_place_for_one_who_can_be_saved():
    """One slot freeing every ten minutes: the 15-minute window can be met at first
    place; the 16-minute one not even at second; the 25-minute one only if the
    16-minute one does not take second place."""
    waiting = [
        line(1, minutes_ago=30, closes_in=15),
        line(2, minutes_ago=20, closes_in=16),
        line(3, minutes_ago=10, closes_in=25),
    ]
    assert deadlines(waiting, now=NOW, chance=per_place(TEN_MINUTES)) == {
        1: NOW + timedelta(minutes=15),
        3: NOW + timedelta(minutes=25),
    }
    order = in_serving_order(waiting, now=NOW, chance=per_place(TEN_MINUTES))
    assert [entry.id for entry in order] == [1, 3, 2]


def test_one_moved_ahead_stays_ahead_until_the_window_closes_or_renews():
    """Free room comes and goes as agents claim and resolve: the customer must not jump
    the line, fall back and jump again with it."""
    closing = line(1, minutes_ago=5, closes_in=15)
    moved = deadlines([closing], now=NOW, chance=flat(TEN_MINUTES))
    assert moved == {1: NOW + timedelta(minutes=15)}

    room_now = flat(0.0)  # an agent has room: not at risk any more
    assert deadlines([closing], now=NOW, chance=room_now) == {}
    assert deadlines([closing], now=NOW, chance=room_now, moved=moved) == moved
    renewed = line(1, minutes_ago=5, closes_in=24 * 60)  # the customer wrote again
    assert deadlines([renewed], now=NOW, chance=room_now, moved=moved) == {}
    later = NOW + timedelta(minutes=16)  # the window closed
    assert deadlines([closing], now=later, chance=room_now, moved=moved) == {}


def test_the_order_is_oldest_first_when_no_one_is_at_risk():
    waiting = [line(n, minutes_ago=60 - n, closes_in=24 * 60 - n) for n in range(1, 6)]
    order = in_serving_order(waiting, now=NOW, chance=per_place(TEN_MINUTES))
    assert [entry.id for entry in order] == [1, 2, 3, 4, 5]


# --- In the database --------------------------------------------------------------------


def agent(username, *, capacity=1, online=True):
    return agent_at_desk(username, capacity=capacity, online=online)


def waiting(*, minutes_ago: float, window_left: timedelta | None = None, **fields):
    """A waiting conversation handed over that long ago, whose customer's window has
    `window_left` (a full day when not said)."""
    now = timezone.now()
    escalated = now - timedelta(minutes=minutes_ago)
    conversation = make_conversation(
        state=State.WAITING, escalated_at=escalated, waiting_since=escalated, **fields
    )
    left = window_left if window_left is not None else timedelta(hours=24)
    Contact.objects.filter(pk=conversation.contact_id).update(
        last_inbound_at=now - timedelta(hours=24) + left
    )
    return conversation


@pytest.fixture
def auto_assign(db):
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    return row


def serve_all() -> None:
    """What the assigner thread does: assign, and move the ones at risk ahead."""
    for _ in range(100):
        if not (assignment.assign_next() or window_priority.refresh()):
            return
    raise AssertionError("the assigner does not stop")


def test_with_the_agent_busy_the_customer_whose_window_closes_in_20_minutes_is_served_first(
    agents_group, auto_assign
):
    """The issue's acceptance, in process: three fresher customers handed over earlier."""
    aiko = agent("aiko", capacity=1)
    busy = waiting(minutes_ago=30)
    serve_all()
    busy.refresh_from_db()
    assert busy.assignee == aiko
    fresher = [waiting(minutes_ago=20 - n) for n in range(3)]
    closing = waiting(minutes_ago=1, window_left=timedelta(minutes=20))

    serve_all()
    closing.refresh_from_db()
    assert closing.serve_by == closing.contact.last_inbound_at + timedelta(hours=24)
    [event] = ConversationEvent.objects.filter(conversation=closing, kind="prioritized")
    assert 0 < event.data["minutes_left"] <= 20  # whole minutes left when moved
    assert [c.pk for c in inbox_waiting(aiko)] == [closing.pk] + [c.pk for c in fresher]
    assert queue_place.place_of(closing, now=timezone.now()).position == 1
    fresher[0].refresh_from_db()
    assert queue_place.place_of(fresher[0], now=timezone.now()).position == 2

    conversations.resolve(conversation_id=busy.pk, agent=aiko)
    serve_all()
    closing.refresh_from_db()
    assert (closing.state, closing.assignee, closing.serve_by) == (State.ASSIGNED, aiko, None)
    assert Conversation.objects.filter(state=State.WAITING).count() == 3


def test_without_a_closing_window_the_oldest_is_served_first(agents_group, auto_assign):
    aiko = agent("aiko", capacity=1)
    busy = waiting(minutes_ago=30)
    serve_all()
    older = waiting(minutes_ago=20)
    newer = waiting(minutes_ago=1, window_left=timedelta(hours=20))

    conversations.resolve(conversation_id=busy.pk, agent=aiko)
    serve_all()
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, newer.state, newer.serve_by) == (State.ASSIGNED, State.WAITING, None)
    assert not ConversationEvent.objects.filter(kind="prioritized").exists()


def test_the_priority_ends_when_the_customer_writes_again_or_the_window_closed(agents_group, db):
    agent("aiko", capacity=1)
    waiting(minutes_ago=30)  # aiko's one slot will be this one's: the others wait
    rewrote = waiting(minutes_ago=5, window_left=timedelta(minutes=15))
    lapsed = waiting(minutes_ago=4, window_left=timedelta(minutes=15))
    assert window_priority.refresh() is True
    assert Conversation.objects.filter(serve_by__isnull=False).count() == 2

    Contact.objects.filter(pk=rewrote.contact_id).update(last_inbound_at=timezone.now())
    assert window_priority.refresh(timezone.now()) is True
    rewrote.refresh_from_db()
    assert rewrote.serve_by is None
    assert window_priority.refresh(timezone.now() + timedelta(minutes=16)) is True
    lapsed.refresh_from_db()
    assert lapsed.serve_by is None
    assert window_priority.refresh(timezone.now() + timedelta(minutes=16)) is False
    # Moved ahead once each: clearing writes no history.
    assert ConversationEvent.objects.filter(kind="prioritized").count() == 2


def test_a_team_conversation_at_risk_goes_ahead_in_its_team_line_only(agents_group, auto_assign):
    billing = Team.objects.create(name="Billing")
    aiko = agent("aiko", capacity=1)
    billing.members.add(aiko)
    waiting(minutes_ago=60, team=billing)
    serve_all()  # aiko is full
    other_team = Team.objects.create(name="Sales")
    unserved = waiting(minutes_ago=50, team=other_team, window_left=timedelta(minutes=20))
    own = waiting(minutes_ago=10, team=billing, window_left=timedelta(minutes=20))

    serve_all()
    unserved.refresh_from_db()
    own.refresh_from_db()
    assert own.serve_by is not None
    assert unserved.serve_by is None  # no member of Sales at their desk: no wait known


def test_the_waiting_pages_walk_the_serving_order_with_a_priority_row(agents_group, db):
    staff = get_user_model().objects.create_user("lead", is_staff=True)
    agent("aiko", capacity=1)
    rows = [waiting(minutes_ago=60 - n) for n in range(5)]
    closing = waiting(minutes_ago=1, window_left=timedelta(minutes=15))
    window_priority.refresh()

    # Pages end on the priority row, then on an ordinary one.
    first = inbox.conversation_page(agent=staff, queue="waiting", limit=1)
    second = inbox.conversation_page(
        agent=staff, queue="waiting", cursor=first.next_cursor, limit=2
    )
    third = inbox.conversation_page(
        agent=staff, queue="waiting", cursor=second.next_cursor, limit=10
    )
    walked = [c["id"] for page in (first, second, third) for c in page.conversations]
    assert walked == [closing.pk] + [c.pk for c in rows]
    assert first.conversations[0]["serve_by"] is not None
    assert second.conversations[0]["serve_by"] is None
    assert third.next_cursor is None
    # A cursor from before this order (no priority in it) still walks on.
    old = inbox.encode_cursor("waiting", rows[0].escalated_at, rows[0].pk)
    rest = inbox.conversation_page(agent=staff, queue="waiting", cursor=old, limit=10)
    assert [c["id"] for c in rest.conversations] == [c.pk for c in rows[1:]]


def test_the_database_order_is_the_rules_order(agents_group, db):
    agent("aiko", capacity=1)
    for n in range(6):
        waiting(
            minutes_ago=60 - n * 7, window_left=timedelta(minutes=[600, 12, 900, 30, 8, 1000][n])
        )
    window_priority.refresh()

    stored = list(
        Conversation.objects.filter(state=State.WAITING)
        .order_by(*desk.SERVING_ORDER)
        .values_list("pk", "serve_by", "escalated_at")
    )
    expected = sorted(stored, key=lambda r: serving_key(serve_by=r[1], escalated_at=r[2], id=r[0]))
    assert [r[0] for r in stored] == [r[0] for r in expected]
    assert sum(1 for r in stored if r[1]) >= 2


def inbox_waiting(agent_user) -> list:
    page = inbox.conversation_page(agent=agent_user, queue="waiting", limit=50)
    return [Conversation.objects.get(pk=c["id"]) for c in page.conversations]


# --- On the running server -----------------------------------------------------------------


@pytest.mark.server
def test_on_the_server_the_closing_window_is_served_first_and_re_engaged_once(
    live, agents_group, session_braze
):
    """The issue's acceptance: one agent, busy; three customers handed over before one
    whose window closes in 20 minutes; the agent resolves: the closing one is theirs.
    The re-engagement template went out to that customer once meanwhile."""
    row = HandoffSettings.load()
    row.auto_assign = True
    row.reengagement_campaign = BrazeCampaign.objects.create(
        name="We are still here",
        key="reengage",
        campaign_id="tmpl-reengage",
        kind="template",
        property_names="external_system_msg_body",
    )
    row.save()
    TopicRoute.objects.create(
        topic="desk", destination=TopicRoute.Destination.AGENTS, is_default=True
    )
    aiko = agent("aiko", capacity=1, online=False)
    session = login(live.url, "aiko")
    with contextlib.ExitStack() as stack:
        socket = stack.enter_context(open_inbox(live.url, session))
        json.loads(socket.recv(timeout=5))  # hello: online from here

        def assigned_to_aiko(frame):
            return (frame.get("event") or {}).get("kind") == "assigned"

        assert live.post_webhook(webhook_body("busy", "help")).status_code == 200
        busy = receive_until(socket, assigned_to_aiko, timeout=30)["conversation"]
        for n in range(3):
            assert live.post_webhook(webhook_body(f"fresh-{n}", f"help {n}")).status_code == 200
        wait_until(lambda: Conversation.objects.filter(state=State.WAITING).count() == 3)
        assert live.post_webhook(webhook_body("closing", "help, quickly")).status_code == 200
        wait_until(lambda: Conversation.objects.filter(state=State.WAITING).count() == 4)
        # The customer wrote 23 h 40 min ago (moved in the database): 20 minutes left.
        Contact.objects.filter(external_id="closing").update(
            last_inbound_at=timezone.now() - timedelta(hours=23, minutes=40)
        )
        ahead = receive_until(
            socket, lambda f: (f.get("event") or {}).get("kind") == "prioritized", timeout=30
        )
        assert ahead["conversation"]["contact"]["external_id"] == "closing"
        session_braze.wait_for(
            lambda sent: any(m["campaign_id"] == "tmpl-reengage" for m in sent), timeout=30
        )

        answer = session.post(
            f"{live.url}/api/conversations/{busy['id']}/resolve/",
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        given = receive_until(socket, assigned_to_aiko, timeout=30)["conversation"]
        assert given["contact"]["external_id"] == "closing"
        assert given["serve_by"] is None  # served: the priority ends with the wait

    reengaged = [m for m in session_braze.sent_messages() if m["campaign_id"] == "tmpl-reengage"]
    assert [m["external_user_id"] for m in reengaged] == ["closing"]
    assert Conversation.objects.get(contact__external_id="closing").assignee == aiko


def test_the_assigner_thread_scans_again_only_after_the_interval_unless_a_batch_is_left(
    monkeypatch,
):
    moments = iter([0.0, 0.0, 1.0, 4.0, 6.0, 6.0])
    monkeypatch.setattr(window_priority, "_next_scan", 0.0)
    scans = []
    monkeypatch.setattr(window_priority, "refresh", lambda: scans.append(True) or len(scans) == 1)

    def clock():
        return next(moments)

    assert window_priority.refresh_if_due(clock) is True  # a batch moved, more may be left
    assert window_priority.refresh_if_due(clock) is False  # nothing left: next scan at 6 s
    assert window_priority.refresh_if_due(clock) is False  # 4 s: not yet
    assert window_priority.refresh_if_due(clock) is False  # 6 s: scans again
    assert len(scans) == 3
