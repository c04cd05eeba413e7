"""Private notes (handoff/services/notes.py and `POST /api/conversations/<id>/notes/`),
in process: who may write one, what it is refused for, what it leaves untouched (Braze,
the bots, the conversation), mentions, the pane, erasure and retention.

The socket's `note.created` against a running server is in tests/test_event_schema.py;
the inbox in Chromium in tests/test_browser_notes.py.
"""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from handoff.models import (
    Conversation,
    ConversationEvent,
    ConversationRead,
    InboxEvent,
    Message,
    Note,
    NoteMention,
    ProfileUpdate,
)
from handoff.rules.payloads import InboundPayload
from handoff.selectors.transcripts import transcript_before
from handoff.services import notes
from handoff.services.erasure import erase_contact, prune_retention
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next
from tests.devtools.bot_standin import BotStandin
from tests.support.agents import make_agent
from tests.support.factories import make_conversation

pytestmark = pytest.mark.django_db

State = Conversation.State
User = get_user_model()


@pytest.fixture
def aiko(agents_group):
    make_agent("aiko")
    return User.objects.get(username="aiko")


@pytest.fixture
def ben(agents_group):
    make_agent("ben")
    return User.objects.get(username="ben")


@pytest.fixture
def api(aiko):
    client = Client()
    client.force_login(aiko)
    return client


def post_note(client, conversation_id, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        f"/api/conversations/{conversation_id}/notes/", data=data, content_type="application/json"
    )


def note_events() -> list[dict]:
    return [e.payload for e in InboxEvent.objects.filter(kind="note.created").order_by("pk")]


# --- Adding one --------------------------------------------------------------------------


def test_a_note_is_stored_answered_and_sent_to_the_inboxes(api, aiko, ben):
    conversation = make_conversation(state=State.ASSIGNED, assignee=aiko)

    response = post_note(api, conversation.pk, {"text": "@ben refund approved?\nSee #12."})

    assert response.status_code == 201
    note = Note.objects.get()
    body = response.json()
    assert body == {
        "note": {
            "id": note.pk,
            "conversation_id": conversation.pk,
            "author": "aiko",
            "text": "@ben refund approved?\nSee #12.",
            "mentions": ["ben"],
            "created_at": note.created_at.isoformat(),
        },
        "unresolved_mentions": [],
    }
    assert (note.author, note.author_name) == (aiko, "aiko")
    assert list(NoteMention.objects.values_list("agent__username", flat=True)) == ["ben"]
    [event] = InboxEvent.objects.filter(kind="note.created")
    assert event.conversation_id == conversation.pk
    assert event.payload == {"note": body["note"]}


@pytest.mark.parametrize("conversation_state", list(State))
def test_any_agent_may_note_any_conversation_in_any_state(api, ben, conversation_state):
    # Ben's conversation, or one with the bot, waiting or resolved: a note asks nothing of
    # the owner, and the bot part of a transcript is where agents most need to comment.
    owner = {"assignee": ben} if conversation_state == State.ASSIGNED else {}
    conversation = make_conversation(state=conversation_state, **owner)

    response = post_note(api, conversation.pk, {"text": "Looked at this one."})

    assert response.status_code == 201
    conversation.refresh_from_db()
    assert conversation.state == conversation_state


def test_a_note_changes_nothing_of_the_conversation_and_sends_nothing(api, aiko, ben):
    conversation = make_conversation(state=State.ASSIGNED, assignee=aiko)
    before = Conversation.objects.filter(pk=conversation.pk).values().get()
    ConversationRead.objects.create(agent=ben, conversation=conversation, last_read_message_id=0)

    post_note(api, conversation.pk, {"text": "@ben the customer is a VIP"})

    assert Conversation.objects.filter(pk=conversation.pk).values().get() == before
    # Nothing to deliver: the delivery workers only ever read message rows.
    assert not Message.objects.exists()
    assert not ProfileUpdate.objects.exists()
    # Not a change of the conversation, so no audit event; the note is its own record.
    assert not ConversationEvent.objects.exists()
    assert ConversationRead.objects.get(agent=ben).last_read_message_id == 0
    assert [e.kind for e in InboxEvent.objects.all()] == ["note.created"]


def test_names_no_agent_has_are_given_back_and_notify_no_one(api, aiko, ben):
    outsider = User.objects.create_user("carol")  # a user, not an agent
    gone = User.objects.create_user("dave", is_active=False)
    gone.groups.add(Group.objects.get(name="Agents"))
    conversation = make_conversation()

    response = post_note(
        api, conversation.pk, {"text": "@Ben, @carol and @dave. @nobody! @aiko (me)"}
    )

    assert response.status_code == 201
    assert response.json()["note"]["mentions"] == ["ben"]
    assert response.json()["unresolved_mentions"] == ["carol", "dave", "nobody"]
    assert [m.agent for m in NoteMention.objects.all()] == [ben]
    assert note_events()[0]["note"]["mentions"] == ["ben"]
    assert outsider.pk  # still there, never told


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"text": ', None),
        ("[1, 2]", None),
        ({}, "text"),
        ({"text": 42}, "text"),
        ({"text": "   \n"}, "text"),
        ({"text": "x" * 4097}, "text"),
        ('{"text": "\\ud800"}', "text"),
        ({"text": "nul\x00byte"}, "text"),
        ({"text": "escape \x1b[31m"}, "text"),
        ({"text": "c1 \x85"}, "text"),
        ('{"text": "hi", "x": ' + "[" * 2000 + "]" * 2000 + "}", None),
    ],
)
def test_a_bad_note_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    conversation = make_conversation()

    response = post_note(api, conversation.pk, body)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ([field] if field else [])
    assert not Note.objects.exists()
    assert not InboxEvent.objects.exists()


def test_a_note_too_long_says_how_long_it_is(api):
    conversation = make_conversation()

    response = post_note(api, conversation.pk, {"text": "x" * 5000})

    assert response.json()["fields"] == {
        "text": "a note is limited to 4,096 characters; this one has 5,000."
    }


def test_a_note_of_exactly_4096_characters_with_tabs_and_line_breaks_is_kept(api):
    conversation = make_conversation()
    text = "a\r\nb\tc" + "y" * 4089

    response = post_note(api, conversation.pk, {"text": text})

    assert response.status_code == 201
    assert Note.objects.get().text == text


def test_a_note_on_an_unknown_conversation_is_a_404(api):
    response = post_note(api, 999999, {"text": "hello"})

    assert response.status_code == 404
    assert response.json()["error"] == "There is no conversation 999999."


def test_notes_are_posted_not_read_at_their_path(api):
    conversation = make_conversation()

    response = api.get(f"/api/conversations/{conversation.pk}/notes/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_service_refuses_what_the_api_would(aiko):
    conversation = make_conversation()

    for text in ("", " \n", "x" * 4097, "bell\x07"):
        with pytest.raises(notes.NoteInvalid):
            notes.add_note(conversation_id=conversation.pk, agent=aiko, text=text)
    with pytest.raises(Conversation.DoesNotExist):
        notes.add_note(conversation_id=conversation.pk + 1, agent=aiko, text="hi")
    assert not Note.objects.exists()


# --- The pane ----------------------------------------------------------------------------


def test_the_pane_lists_the_notes_oldest_first_beside_the_messages(api, aiko, ben):
    conversation = make_conversation(state=State.ASSIGNED, assignee=aiko)
    notes.add_note(conversation_id=conversation.pk, agent=aiko, text="first @ben")
    notes.add_note(conversation_id=conversation.pk, agent=ben, text="second @aiko @ben")
    other = make_conversation()
    notes.add_note(conversation_id=other.pk, agent=aiko, text="elsewhere")

    pane = api.get(f"/api/conversations/{conversation.pk}/").json()

    assert [(n["author"], n["text"], n["mentions"]) for n in pane["notes"]] == [
        ("aiko", "first @ben", ["ben"]),
        ("ben", "second @aiko @ben", ["aiko"]),
    ]
    # The shapes that were there before are as they were: notes are never messages.
    assert pane["messages"] == [] and pane["events"] == []
    assert set(pane) == {
        "conversation",
        "contact",
        "messages",
        "has_earlier_messages",
        "events",
        "notes",
        "earlier_conversations",
    }


def test_a_deleted_authors_notes_keep_their_name_and_a_deleted_agent_is_no_longer_mentioned(
    api, aiko, ben
):
    conversation = make_conversation()
    notes.add_note(conversation_id=conversation.pk, agent=ben, text="@aiko from ben")
    notes.add_note(conversation_id=conversation.pk, agent=aiko, text="@ben from aiko")

    ben.delete()

    [from_ben, from_aiko] = api.get(f"/api/conversations/{conversation.pk}/").json()["notes"]
    assert (from_ben["author"], from_ben["mentions"]) == ("ben", ["aiko"])
    assert (from_aiko["author"], from_aiko["mentions"]) == ("aiko", [])
    assert Note.objects.get(text="@aiko from ben").author is None


def test_a_renamed_agent_is_still_the_one_mentioned(api, aiko, ben):
    conversation = make_conversation()
    notes.add_note(conversation_id=conversation.pk, agent=aiko, text="@ben look")
    ben.username = "benjamin"
    ben.save()

    [note] = api.get(f"/api/conversations/{conversation.pk}/").json()["notes"]

    assert note["mentions"] == ["benjamin"]


# --- Never to Braze, never to a bot ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_note_never_reaches_the_bots_transcript(settings, aiko):
    with BotStandin("bot-secret") as bot:
        settings.HANDOFF_BOT = "http"
        settings.HANDOFF_BOT_URL = bot.url
        settings.HANDOFF_BOT_SECRET = "bot-secret"
        payload = InboundPayload(user_id="cust-1", phone_number="+8190", message="first")
        conversation_id = accept_inbound(payload).conversation_id
        route_next()
        notes.add_note(
            conversation_id=conversation_id, agent=aiko, text="SECRET: customer owes us money"
        )
        second = accept_inbound(
            InboundPayload(user_id="cust-1", phone_number="+8190", message="second")
        )
        route_next()

        transcript = bot.requests()[-1]["body"]["transcript"]
        everything_the_bot_got = b"".join(request["raw"] for request in bot.requests())

    assert transcript == [
        {"role": "customer", "text": "first"},
        {"role": "bot", "text": "echo: first"},
    ]
    assert b"SECRET" not in everything_the_bot_got
    assert all(
        "SECRET" not in text for _, text in transcript_before(conversation_id, second.message_id)
    )
    # The bot answered; the note never became a message to send.
    assert not Message.objects.filter(text__contains="SECRET").exists()


# --- Erased and pruned with their conversation -------------------------------------------


def test_erasing_the_customer_erases_the_notes_their_mentions_and_their_events(aiko, ben):
    conversation = make_conversation(external_id="erase-me")
    notes.add_note(conversation_id=conversation.pk, agent=aiko, text="@ben about Erasmus")
    kept = make_conversation(external_id="keep-me")
    notes.add_note(conversation_id=kept.pk, agent=aiko, text="@ben about Kaja")

    erasure = erase_contact(external_id="erase-me", source="command")

    assert erasure.counts["notes"] == 1
    assert list(Note.objects.values_list("text", flat=True)) == ["@ben about Kaja"]
    assert NoteMention.objects.count() == 1
    assert [e["note"]["text"] for e in note_events()] == ["@ben about Kaja"]


def test_retention_prunes_the_notes_with_their_conversation(aiko):
    now = timezone.now()
    old = make_conversation(state=State.RESOLVED, resolved_at=now - timedelta(days=40))
    recent = make_conversation(state=State.RESOLVED, resolved_at=now - timedelta(days=2))
    for conversation in (old, recent):
        notes.add_note(conversation_id=conversation.pk, agent=aiko, text=f"note {conversation.pk}")

    counts = prune_retention(now, days=30)

    assert counts["notes"] == 1
    assert list(Note.objects.values_list("conversation_id", flat=True)) == [recent.pk]
