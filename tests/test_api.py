"""The inbox JSON API (docs/api.md), in process with Django's test client."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from handoff.live.events import latest_seq
from handoff.models import (
    AgentPresence,
    AgentSeat,
    CannedReply,
    Conversation,
    ConversationEvent,
    ConversationRead,
    InboxEvent,
    Message,
    Team,
)
from tests.support.agents import make_agent
from tests.support.factories import make_conversation

pytestmark = pytest.mark.django_db

State = Conversation.State


@pytest.fixture
def aiko(agents_group):
    make_agent("aiko")
    return get_user_model().objects.get(username="aiko")


@pytest.fixture
def ben(agents_group):
    make_agent("ben")
    return get_user_model().objects.get(username="ben")


@pytest.fixture
def api(aiko):
    client = Client()
    client.force_login(aiko)
    return client


def post(client, path, body=None, **extra):
    data = "" if body is None else json.dumps(body) if not isinstance(body, str) else body
    return client.post(path, data=data, content_type="application/json", **extra)


def waiting(**fields):
    fields.setdefault("escalated_at", timezone.now())
    return make_conversation(state=State.WAITING, escalation_kind="keyword", **fields)


def assigned_to(agent, **fields):
    return make_conversation(
        state=State.ASSIGNED, assignee=agent, assigned_at=timezone.now(), **fields
    )


def inbound(conversation, text="hello", **fields):
    return Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text=text,
        routing_state=Message.Routing.DONE,
        **fields,
    )


def outbound(conversation, text="answer", state=Message.Delivery.SENT, **fields):
    fields.setdefault("author_kind", Message.AuthorKind.AGENT)
    return Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.OUTBOUND,
        text=text,
        delivery_state=state,
        **fields,
    )


def ids(response):
    return [c["id"] for c in response.json()["conversations"]]


# --- Who may call ------------------------------------------------------------------


def test_anonymous_callers_get_401_in_json(db):
    response = Client().get("/api/conversations/")

    assert response.status_code == 401
    assert response.json() == {"error": "Log in first.", "fields": {}}


def test_users_who_are_not_agents_get_403(db):
    client = Client()
    client.force_login(get_user_model().objects.create_user("visitor", password="x-pass-123"))

    response = client.get("/api/me/")

    assert response.status_code == 403
    assert response.json()["error"] == "Only agents may use the inbox."


def test_a_post_without_the_csrf_token_is_refused_in_json_and_changes_nothing(aiko):
    conversation = waiting()
    client = Client(enforce_csrf_checks=True)
    client.force_login(aiko)

    response = post(client, f"/api/conversations/{conversation.pk}/claim/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    conversation.refresh_from_db()
    assert conversation.state == State.WAITING


def test_a_post_with_the_csrf_token_from_the_cookie_is_accepted(aiko):
    conversation = waiting()
    client = Client(enforce_csrf_checks=True)
    client.force_login(aiko)
    token = "A" * 32
    client.cookies["csrftoken"] = token

    response = post(client, f"/api/conversations/{conversation.pk}/claim/", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200


def test_a_wrong_method_gets_405_with_allow(api):
    response = api.get("/api/conversations/1/claim/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "POST" in response.json()["error"]


# --- Reading --------------------------------------------------------------------------


def test_me_names_the_agent(api, aiko):
    aiko.first_name = "Aiko"
    aiko.save()
    for name in ("Tier 2", "Billing"):
        Team.objects.create(name=name).members.add(aiko)
    Team.objects.create(name="Sales")

    assert api.get("/api/me/").json() == {
        "username": "aiko",
        "display_name": "Aiko",
        "is_staff": False,
        "online": False,  # no inbox socket of hers is open
        "status": "offline",
        "chosen_status": "available",
        "capacity": 5,
        "open_count": 0,
        "teams": ["Billing", "Tier 2"],
    }


def test_the_waiting_queue_holds_my_teams_and_no_teams_conversations_and_staff_see_all(api, aiko):
    billing = Team.objects.create(name="Billing")
    billing.members.add(aiko)
    sales = Team.objects.create(name="Sales")
    now = timezone.now()
    everyone = make_conversation(state="waiting", escalated_at=now - timedelta(minutes=3))
    mine = make_conversation(state="waiting", escalated_at=now - timedelta(minutes=2), team=billing)
    make_conversation(state="waiting", escalated_at=now - timedelta(minutes=1), team=sales)

    listed = api.get("/api/conversations/?queue=waiting").json()["conversations"]
    assert [(c["id"], c["team"]) for c in listed] == [(everyone.pk, None), (mine.pk, "Billing")]
    assert api.get("/api/counts/").json()["waiting"] == 2

    aiko.is_staff = True
    aiko.save()
    assert len(api.get("/api/conversations/?queue=waiting").json()["conversations"]) == 3
    assert api.get("/api/counts/").json()["waiting"] == 3


def test_agents_lists_agents_only_with_their_online_flag_status_load_and_teams(api, aiko, ben):
    get_user_model().objects.create_user("visitor")
    for name in ("Shipping", "Billing"):
        Team.objects.create(name=name).members.add(ben)
    AgentPresence.objects.create(agent=ben, channel_name="ben-socket")
    AgentPresence.objects.create(
        agent=aiko, channel_name="stale", seen_at=timezone.now() - timedelta(minutes=5)
    )
    AgentSeat.objects.create(agent=ben, status="away", capacity=4)
    assigned_to(ben)
    assigned_to(ben)
    make_conversation(state=State.RESOLVED, assignee=ben, resolved_at=timezone.now())
    waiting()

    agents = api.get("/api/agents/").json()["agents"]

    assert agents == [
        {
            "username": "aiko",
            "display_name": "aiko",
            "online": False,
            "status": "offline",
            "capacity": 5,
            "open_count": 0,
            "teams": [],
        },
        {
            "username": "ben",
            "display_name": "ben",
            "online": True,
            "status": "away",
            "capacity": 4,
            "open_count": 2,
            "teams": ["Billing", "Shipping"],
        },
    ]


def test_an_agent_whose_last_socket_closed_within_the_grace_is_still_online(
    api, aiko, ben, settings
):
    settings.HANDOFF_OFFLINE_GRACE_SECONDS = 30
    now = timezone.now()
    AgentPresence.objects.create(
        agent=ben, channel_name="reloading", seen_at=now, closed_at=now - timedelta(seconds=20)
    )
    AgentPresence.objects.create(
        agent=aiko, channel_name="gone", seen_at=now, closed_at=now - timedelta(seconds=40)
    )

    agents = {a["username"]: a["status"] for a in api.get("/api/agents/").json()["agents"]}

    assert agents == {"aiko": "offline", "ben": "available"}


def test_the_agents_list_takes_the_same_queries_for_3_and_30_agents(api, aiko, agents_group):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/agents/").status_code == 200
        return len(captured)

    def add_agents(names):
        for name in names:
            make_agent(name)
            agent = get_user_model().objects.get(username=name)
            AgentSeat.objects.create(agent=agent, status="away", capacity=3)
            assigned_to(agent)
            AgentPresence.objects.create(agent=agent, channel_name=f"{name}-socket")

    add_agents(["a1", "a2"])
    Team.objects.create(name="Billing").members.add(*get_user_model().objects.all())
    few = queries()
    add_agents([f"b{n}" for n in range(27)])

    assert len(api.get("/api/agents/").json()["agents"]) == 30
    assert queries() == few


# --- My status ----------------------------------------------------------------------


def test_an_agent_chooses_away_and_back_and_the_answer_is_me(api, aiko):
    AgentPresence.objects.create(agent=aiko, channel_name="aiko-socket")

    away = post(api, "/api/me/status/", {"status": "away"})

    assert away.status_code == 200
    assert away.json()["status"] == "away"
    assert away.json()["chosen_status"] == "away"
    assert AgentSeat.objects.get(agent=aiko).status == "away"
    assert api.get("/api/me/").json()["status"] == "away"
    back = post(api, "/api/me/status/", {"status": "available"})
    assert (back.json()["status"], back.json()["chosen_status"]) == ("available", "available")


def test_a_status_chosen_with_no_inbox_open_is_kept_and_shows_offline(api, aiko):
    answer = post(api, "/api/me/status/", {"status": "away"}).json()

    assert (answer["status"], answer["online"], answer["chosen_status"]) == (
        "offline",
        False,
        "away",
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "this field is required."),
        ({"status": None}, "this field is required."),
        ({"status": 1}, "must be a string, not a number."),
        ({"status": ["away"]}, "must be a string, not a list."),
        ({"status": "busy"}, 'must be "available" or "away", not "busy".'),
        ({"status": "Away"}, 'must be "available" or "away", not "Away".'),
        (
            {"status": "offline"},
            'must be "available" or "away", not "offline": offline is not chosen, it '
            "follows from having no inbox open.",
        ),
    ],
)
def test_a_status_other_than_available_or_away_is_a_400_naming_the_field(api, aiko, body, problem):
    before = latest_seq()

    response = post(api, "/api/me/status/", body)

    assert response.status_code == 400
    assert response.json() == {"error": f"Invalid status: {problem}", "fields": {"status": problem}}
    assert not AgentSeat.objects.exists()
    assert latest_seq() == before


def test_a_status_body_that_is_not_an_object_is_a_400(api):
    response = post(api, "/api/me/status/", '["away"]')

    assert response.status_code == 400
    assert response.json()["error"] == "The body must be a JSON object."


def test_choosing_a_status_needs_post_and_the_csrf_token(aiko):
    client = Client(enforce_csrf_checks=True)
    client.force_login(aiko)

    assert client.get("/api/me/status/").status_code == 405
    refused = post(client, "/api/me/status/", {"status": "away"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert not AgentSeat.objects.exists()


def test_counts_give_each_queue_its_number(api, aiko, ben):
    waiting()
    waiting()
    assigned_to(aiko)
    assigned_to(ben)
    make_conversation(state=State.BOT)
    make_conversation(state=State.RESOLVED, resolved_at=timezone.now())

    assert api.get("/api/counts/").json() == {
        "waiting": 2,
        "mine": 1,
        "bot": 1,
        "resolved": 1,
        "all": 6,
    }


def test_the_preview_skips_system_texts_such_as_the_hand_over_notice(api):
    conversation = waiting()
    inbound(conversation, "I want to talk to an agent")
    Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.OUTBOUND,
        author_kind=Message.AuthorKind.SYSTEM,
        text="Passing you to our team",
        delivery_state=Message.Delivery.SENT,
    )

    [row] = api.get("/api/conversations/").json()["conversations"]

    assert row["last_message"]["text"] == "I want to talk to an agent"


def test_waiting_queue_lists_the_longest_waiting_first_with_last_message(api):
    now = timezone.now()
    newer = waiting(escalated_at=now - timedelta(minutes=1))
    older = waiting(escalated_at=now - timedelta(minutes=9))
    make_conversation(state=State.BOT)
    inbound(older, "x" * 300)

    body = api.get("/api/conversations/").json()

    assert [c["id"] for c in body["conversations"]] == [older.pk, newer.pk]
    first = body["conversations"][0]
    assert first["state"] == "waiting"
    assert first["waiting_since"] == first["escalated_at"]
    assert first["contact"]["external_id"] == older.contact.external_id
    assert first["last_message"]["text"] == "x" * 200
    assert first["last_message"]["author_kind"] == "customer"
    assert first["unread"] is True
    assert body["conversations"][1]["last_message"] is None
    assert body["next_cursor"] is None


def test_each_queue_holds_its_conversations_in_its_order(api, aiko, ben):
    now = timezone.now()
    mine_old = assigned_to(aiko, last_message_at=now - timedelta(hours=2))
    mine_new = assigned_to(aiko, last_message_at=now - timedelta(hours=1))
    assigned_to(ben)
    bot_old = make_conversation(state=State.BOT, last_message_at=now - timedelta(hours=3))
    bot_new = make_conversation(state=State.BOT, last_message_at=now + timedelta(minutes=1))
    day_ago = now - timedelta(days=1)
    done_old = make_conversation(state=State.RESOLVED, resolved_at=day_ago, last_message_at=day_ago)
    done_new = make_conversation(state=State.RESOLVED, resolved_at=now, last_message_at=day_ago)

    assert ids(api.get("/api/conversations/?queue=mine")) == [mine_old.pk, mine_new.pk]
    assert ids(api.get("/api/conversations/?queue=bot")) == [bot_new.pk, bot_old.pk]
    assert ids(api.get("/api/conversations/?queue=resolved")) == [done_new.pk, done_old.pk]
    everything = ids(api.get("/api/conversations/?queue=all"))
    assert len(everything) == 7 and everything[0] == bot_new.pk


@pytest.mark.parametrize("queue", ["waiting", "all", "resolved"])
def test_paging_with_the_cursor_returns_each_conversation_exactly_once(api, queue):
    moment = timezone.now()
    for n in range(23):  # groups of equal times: the id must break the ties
        at = moment - timedelta(minutes=n // 4)
        waiting(escalated_at=at, last_message_at=at)
        make_conversation(state=State.RESOLVED, resolved_at=at, last_message_at=at)
    seen, cursor, pages = [], "", 0
    while True:
        response = api.get("/api/conversations/", {"queue": queue, "limit": 5, "cursor": cursor})
        assert response.status_code == 200
        seen += ids(response)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    expected = Conversation.objects.count() if queue == "all" else 23
    assert len(seen) == len(set(seen)) == expected
    assert pages == -(-expected // 5)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
        ({"queue": "later"}, "queue"),
    ],
)
def test_a_bad_list_request_is_a_400_naming_the_parameter(api, query, problem):
    response = api.get("/api/conversations/", query)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [problem]


def test_a_cursor_of_another_queue_is_refused(api):
    for _ in range(3):
        make_conversation(state=State.BOT)
    cursor = api.get("/api/conversations/?queue=bot&limit=1").json()["next_cursor"]

    response = api.get("/api/conversations/", {"queue": "all", "cursor": cursor})

    assert response.status_code == 400
    assert "bot" in response.json()["fields"]["cursor"]


@pytest.mark.parametrize("q", ["9012", "SATO", "crm-77", "REFUND please"])
def test_search_finds_by_phone_name_external_id_and_message_text(api, q):
    target = make_conversation(state=State.BOT, external_id="crm-7788")
    target.contact.phone_number = "+819012345678"
    target.contact.name = "Sato Hanako"
    target.contact.save()
    inbound(target, "I want a refund please")
    other = make_conversation(state=State.BOT)
    inbound(other, "hello")

    assert ids(api.get("/api/conversations/", {"queue": "all", "q": q})) == [target.pk]


def test_the_conversation_pane_has_contact_window_messages_events_and_history(api, aiko):
    conversation = assigned_to(aiko)
    contact = conversation.contact
    contact.last_inbound_at = timezone.now() - timedelta(hours=1)
    contact.save()
    earlier = Conversation.objects.create(
        contact=contact, state=State.RESOLVED, resolved_at=timezone.now()
    )
    first = inbound(conversation, "first")
    reply = outbound(conversation, "second", author=aiko)
    ConversationEvent.objects.create(
        conversation=conversation, kind="claimed", actor=aiko, actor_kind="agent"
    )

    pane = api.get(f"/api/conversations/{conversation.pk}/").json()

    assert pane["conversation"]["id"] == conversation.pk
    assert pane["conversation"]["assignee"] == "aiko"
    assert pane["contact"]["window_open"] is True
    closes = contact.last_inbound_at + timedelta(hours=24)
    assert pane["contact"]["window_closes_at"] == closes.isoformat()
    assert [m["id"] for m in pane["messages"]] == [first.pk, reply.pk]
    assert pane["messages"][1]["author"] == "aiko"
    assert pane["messages"][1]["delivery"]["state"] == "sent"
    assert pane["has_earlier_messages"] is False
    assert [e["kind"] for e in pane["events"]] == ["claimed"]
    assert pane["earlier_conversations"] == [
        {
            "id": earlier.pk,
            "state": "resolved",
            "created_at": earlier.created_at.isoformat(),
            "resolved_at": earlier.resolved_at.isoformat(),
            "escalation_reason": "",
        }
    ]


def test_the_pane_shows_the_last_500_messages_and_says_there_are_earlier_ones(api):
    conversation = waiting()
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            contact_id=conversation.contact_id,
            direction="in",
            author_kind="customer",
            text=f"m{n}",
            routing_state="done",
        )
        for n in range(502)
    )

    pane = api.get(f"/api/conversations/{conversation.pk}/").json()

    assert len(pane["messages"]) == 500
    assert pane["messages"][0]["text"] == "m2" and pane["messages"][-1]["text"] == "m501"
    assert pane["has_earlier_messages"] is True
    closes = conversation.contact.last_inbound_at + timedelta(hours=24)
    assert pane["contact"]["window_open"] is True
    assert pane["contact"]["window_closes_at"] == closes.isoformat()


def test_an_unknown_conversation_is_a_404(api):
    for path in ("/api/conversations/999999/", "/api/conversations/999999/claim/"):
        response = api.get(path) if path.count("/") == 4 else post(api, path)
        assert response.status_code == 404
        assert response.json()["error"] == "There is no conversation 999999."


@pytest.mark.parametrize("path", ["/api/conversations/99999999999999999999/", "/api/nothing-here/"])
def test_unknown_paths_and_ids_too_large_for_the_database_are_json_404s(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.json()["error"].startswith("There is no API endpoint")


def test_canned_replies_lists_only_active_ones(api):
    CannedReply.objects.create(shortcut="hours", title="Hours", text="9 to 5")
    CannedReply.objects.create(shortcut="old", title="Old", text="gone", is_active=False)

    assert api.get("/api/canned-replies/").json() == {
        "canned_replies": [
            {"shortcut": "hours", "title": "Hours", "text": "9 to 5", "campaign": None}
        ]
    }


def test_events_catch_up_returns_what_happened_after_a_sequence_number(api):
    conversation = waiting()
    before = latest_seq()
    post(api, f"/api/conversations/{conversation.pk}/claim/")

    body = api.get("/api/events/", {"after": before}).json()

    assert body["resync"] is False
    # Every stored event after `before` (numbers may skip: PostgreSQL's sequences
    # never give back a number that a rolled-back transaction took).
    stored = InboxEvent.objects.filter(pk__gt=before).order_by("pk")
    assert [e["seq"] for e in body["events"]] == [row.pk for row in stored]
    assert body["latest"] == stored.last().pk
    # The claim, then aiko's new load for the other agents.
    assert [e["type"] for e in body["events"]][-2:] == ["conversation.updated", "presence"]
    claimed, load = body["events"][-2:]
    assert claimed["event"]["kind"] == "claimed"
    assert claimed["conversation"]["assignee"] == "aiko"
    assert (load["agent"], load["open_count"]) == ("aiko", 1)


@pytest.mark.parametrize("after", [None, "-1", "abc"])
def test_events_needs_a_non_negative_after(api, after):
    response = api.get("/api/events/", {} if after is None else {"after": after})

    assert response.status_code == 400
    assert "after" in response.json()["fields"]


# --- Acting ---------------------------------------------------------------------------


def test_claim_makes_a_waiting_conversation_mine(api):
    conversation = waiting()

    response = post(api, f"/api/conversations/{conversation.pk}/claim/")

    assert response.status_code == 200
    summary = response.json()["conversation"]
    assert summary["state"] == "assigned" and summary["assignee"] == "aiko"
    assert "unread" in summary and "last_message" in summary


def test_claiming_what_another_agent_claimed_is_a_409_naming_them(api, ben):
    conversation = assigned_to(ben)

    response = post(api, f"/api/conversations/{conversation.pk}/claim/")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "ben has already claimed this conversation."
    assert body["assignee"] == "ben"
    assert body["conversation"]["id"] == conversation.pk
    assert body["conversation"]["state"] == "assigned"


def test_take_over_silences_the_bot_and_records_why(api):
    conversation = make_conversation(state=State.BOT)

    response = post(api, f"/api/conversations/{conversation.pk}/take-over/")

    assert response.status_code == 200
    summary = response.json()["conversation"]
    assert summary["assignee"] == "aiko"
    assert summary["escalation_reason"] == "agent_takeover"


def test_taking_over_a_resolved_conversation_is_a_409(api):
    conversation = make_conversation(state=State.RESOLVED, resolved_at=timezone.now())

    response = post(api, f"/api/conversations/{conversation.pk}/take-over/")

    assert response.status_code == 409
    assert response.json()["error"] == "This conversation is resolved."
    assert response.json()["assignee"] is None


def test_transfer_gives_my_conversation_to_another_agent(api, aiko, ben):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/transfer/", {"to": "ben"})

    assert response.status_code == 200
    assert response.json()["conversation"]["assignee"] == "ben"
    event = ConversationEvent.objects.get(conversation=conversation, kind="transferred")
    assert event.data == {"from": "aiko", "to": "ben"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"to": "nobody"}, "there is no agent named 'nobody'."),
        ({"to": "visitor"}, "visitor is not an active agent."),
        ({"to": 5}, "must be a string, not a number."),
        ({}, "this field is required."),
        ({"to": " "}, "give the username of the agent to transfer to."),
    ],
)
def test_transfer_to_someone_who_is_not_an_agent_is_a_400(api, aiko, body, problem):
    get_user_model().objects.create_user("visitor")
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/transfer/", body)

    assert response.status_code == 400
    assert response.json()["fields"] == {"to": problem}
    conversation.refresh_from_db()
    assert conversation.assignee == aiko


def test_transferring_another_agents_conversation_is_a_409(api, ben):
    conversation = assigned_to(ben)

    response = post(api, f"/api/conversations/{conversation.pk}/transfer/", {"to": "aiko"})

    assert response.status_code == 409
    assert response.json()["assignee"] == "ben"


def test_release_puts_my_conversation_back_in_the_queue(api, aiko):
    conversation = assigned_to(aiko, escalated_at=timezone.now())

    response = post(api, f"/api/conversations/{conversation.pk}/release/")

    assert response.status_code == 200
    assert response.json()["conversation"]["state"] == "waiting"
    assert response.json()["conversation"]["assignee"] is None


def test_releasing_a_waiting_conversation_is_a_409(api):
    conversation = waiting()

    response = post(api, f"/api/conversations/{conversation.pk}/release/")

    assert response.status_code == 409
    assert response.json()["conversation"]["state"] == "waiting"


def test_resolve_closes_my_conversation_and_queues_the_resolved_text(api, aiko):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/resolve/")

    assert response.status_code == 200
    assert response.json()["conversation"]["state"] == "resolved"
    assert Message.objects.filter(conversation=conversation, author_kind="system").exists()


def test_resolving_another_agents_conversation_is_a_409(api, ben):
    conversation = assigned_to(ben)

    response = post(api, f"/api/conversations/{conversation.pk}/resolve/")

    assert response.status_code == 409
    assert response.json()["error"] == "ben has already claimed this conversation."
    conversation.refresh_from_db()
    assert conversation.state == State.ASSIGNED


def test_reply_queues_my_message_for_delivery(api, aiko):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", {"text": "On it!"})

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["text"] == "On it!" and message["author"] == "aiko"
    assert message["direction"] == "out" and message["delivery"]["state"] == "queued"


def test_a_reply_into_a_bot_conversation_takes_it_over_first(api):
    conversation = make_conversation(state=State.BOT)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", {"text": "Hi, I'm Aiko"})

    assert response.status_code == 201
    conversation.refresh_from_db()
    assert conversation.state == State.ASSIGNED
    assert conversation.escalation_kind == "agent_takeover"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ('{"text": ', 400, None),
        ("[1, 2]", 400, None),
        ({}, 400, "text"),
        ({"text": 42}, 400, "text"),
        ({"text": "   \n"}, 400, "text"),
        ({"text": "x" * 4097}, 400, "text"),
        ('{"text": "\\ud800"}', 400, "text"),
        ({"text": "nul\x00byte"}, 400, "text"),
        ({"text": "escape \x1b[31m"}, 400, "text"),
        ({"text": "c1 \x85"}, 400, "text"),
        ("[" * 2000 + "]" * 2000, 400, None),
        ('{"text": "hi", "x": ' + "[" * 2000 + "]" * 2000 + "}", 400, None),
    ],
)
def test_a_bad_reply_is_a_400_and_stores_nothing(api, body, status, field):
    conversation = make_conversation(state=State.BOT)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", body)

    assert response.status_code == status
    assert list(response.json()["fields"]) == ([field] if field else [])
    assert not Message.objects.exists()
    conversation.refresh_from_db()
    assert conversation.state == State.BOT


def test_a_lone_surrogate_in_a_reply_is_named_like_the_webhook_names_it(api, aiko):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", '{"text": "\\ud800"}')

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid text: contains a control character (U+D800).",
        "fields": {"text": "contains a control character (U+D800)."},
    }


def test_a_body_nested_2000_deep_is_a_400_that_says_so(api, aiko):
    conversation = assigned_to(aiko)
    body = '{"text": "hi", "x": ' + "[" * 2000 + "]" * 2000 + "}"

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", body)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The body is nested too deeply; send a flat JSON object.",
        "fields": {},
    }


def test_a_reply_keeps_line_breaks_and_tabs(api, aiko):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", {"text": "a\r\nb\tc"})

    assert response.status_code == 201
    assert Message.objects.get().text == "a\r\nb\tc"


def test_a_reply_of_exactly_4096_characters_is_accepted(api, aiko):
    conversation = assigned_to(aiko)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", {"text": "y" * 4096})

    assert response.status_code == 201


def test_replying_in_another_agents_conversation_is_a_409_and_stores_nothing(api, ben):
    conversation = assigned_to(ben)

    response = post(api, f"/api/conversations/{conversation.pk}/reply/", {"text": "me too"})

    assert response.status_code == 409
    assert response.json()["assignee"] == "ben"
    assert not Message.objects.exists()


def test_reading_a_conversation_clears_its_unread_mark(api, aiko):
    conversation = assigned_to(aiko)
    inbound(conversation, "are you there?")
    unread = api.get("/api/conversations/?queue=mine").json()["conversations"][0]["unread"]

    response = post(api, f"/api/conversations/{conversation.pk}/read/")

    assert unread is True
    assert response.status_code == 204
    summary = api.get("/api/conversations/?queue=mine").json()["conversations"][0]
    assert summary["unread"] is False
    inbound(conversation, "hello?")
    assert api.get("/api/conversations/?queue=mine").json()["conversations"][0]["unread"] is True


def test_a_read_mark_never_moves_backwards(api, aiko):
    conversation = assigned_to(aiko)
    first = inbound(conversation, "one")
    second = inbound(conversation, "two")
    post(api, f"/api/conversations/{conversation.pk}/read/", {"message_id": second.pk})

    response = post(api, f"/api/conversations/{conversation.pk}/read/", {"message_id": first.pk})

    assert response.status_code == 204
    assert ConversationRead.objects.get(agent=aiko).last_read_message_id == second.pk


@pytest.mark.parametrize("message_id", ["12", 0, True, 2**64])
def test_read_with_a_bad_message_id_is_a_400(api, message_id):
    conversation = waiting()

    response = post(api, f"/api/conversations/{conversation.pk}/read/", {"message_id": message_id})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["message_id"]


def test_read_with_a_message_of_another_conversation_is_a_400(api):
    conversation = waiting()
    elsewhere = inbound(waiting())

    response = post(
        api, f"/api/conversations/{conversation.pk}/read/", {"message_id": elsewhere.pk}
    )

    assert response.status_code == 400
    assert not ConversationRead.objects.exists()


def test_retry_queues_a_failed_message_again(api, aiko):
    conversation = assigned_to(aiko)
    failed = outbound(conversation, state=Message.Delivery.FAILED, last_error="bad campaign")

    response = post(api, f"/api/messages/{failed.pk}/retry/")

    assert response.status_code == 200
    assert response.json()["message"]["delivery"]["state"] == "queued"
    assert ConversationEvent.objects.filter(kind="delivery_retried", actor=aiko).exists()


def test_retrying_a_failed_message_in_another_agents_conversation_is_a_409(api, ben):
    conversation = assigned_to(ben)
    failed = outbound(conversation, author=ben, state=Message.Delivery.FAILED, last_error="x")

    response = post(api, f"/api/messages/{failed.pk}/retry/")

    assert response.status_code == 409
    assert response.json()["error"] == "ben has already claimed this conversation."
    assert response.json()["assignee"] == "ben"
    failed.refresh_from_db()
    assert failed.delivery_state == Message.Delivery.FAILED
    assert not ConversationEvent.objects.filter(kind="delivery_retried").exists()


def test_retrying_a_failed_bot_answer_leaves_the_conversation_with_the_bot(api):
    conversation = make_conversation(state=State.BOT)
    failed = outbound(conversation, author_kind=Message.AuthorKind.BOT, state="failed")

    response = post(api, f"/api/messages/{failed.pk}/retry/")

    assert response.status_code == 200
    assert response.json()["message"]["delivery"]["state"] == "queued"
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee) == (State.BOT, None)


def test_retrying_a_message_that_did_not_fail_is_a_409(api, aiko):
    sent = outbound(assigned_to(aiko))

    response = post(api, f"/api/messages/{sent.pk}/retry/")

    assert response.status_code == 409
    assert response.json()["message"]["delivery"]["state"] == "sent"


def test_retrying_an_unknown_message_is_a_404(api):
    response = post(api, "/api/messages/424242/retry/")

    assert response.status_code == 404
    assert response.json()["error"] == "There is no message 424242."


def test_the_demo_seed_adds_canned_replies_once_and_keeps_deleted_ones_deleted(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    seeded = set(CannedReply.objects.values_list("shortcut", flat=True))
    CannedReply.objects.filter(shortcut="bye").delete()

    call_command("seed_demo", stdout=io.StringIO())

    assert {"hello", "order", "refund", "bye"} <= seeded
    assert set(CannedReply.objects.values_list("shortcut", flat=True)) == seeded - {"bye"}
