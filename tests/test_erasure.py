"""Erasing a customer and the retention limit, run in-process against the database.

The tests against the running server (what agents and admins can still read after an
erasure, the admin action, the inbox dropping the conversation) are in
tests/test_erasure_live.py.
"""

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from django.utils import timezone

from handoff.braze.client import BrazeClient
from handoff.live.feed import catch_up
from handoff.models import (
    Contact,
    Conversation,
    ConversationEvent,
    ConversationRead,
    ErasureRecord,
    InboxEvent,
    Message,
    Note,
    ProfileUpdate,
)
from handoff.rules.payloads import InboundPayload
from handoff.services import conversations, notes, profile_sync
from handoff.services.delivery import claim_next_outbound, deliver
from handoff.services.erasure import (
    COUNT_KEYS,
    UnknownContact,
    erase_contact,
    erasures_of,
    prune_retention,
)
from handoff.services.inbound import accept_inbound
from handoff.services.read_marks import mark_read
from handoff.services.routing import route_next
from handoff.workers.threads import CHORES
from tests.support.bots import SlowBot
from tests.support.servers import BRAZE_API_KEY, ROOT, server_env

pytestmark = pytest.mark.django_db(transaction=True)

Source = ErasureRecord.Source


@pytest.fixture
def agent(agents_group):
    user = get_user_model().objects.create_user("aiko", password="x")
    user.groups.add(agents_group)
    return user


class Customer:
    """A customer with a full history: two conversations (one resolved), an agent's
    reply still queued for Braze, an agent's note, read marks, profile updates, feed
    events, and an admin's edit of their contact."""

    def __init__(self, agent, external_id: str, phone: str, name: str, text: str):
        self.external_id, self.phone, self.name, self.text = external_id, phone, name, text
        first = accept_inbound(
            InboundPayload(user_id=external_id, phone_number=phone, name=name, message=text)
        )
        conversations.take_over(conversation_id=first.conversation_id, agent=agent)
        conversations.send_agent_reply(
            conversation_id=first.conversation_id, agent=agent, text=f"Hello {name}"
        )
        mark_read(agent=agent, conversation_id=first.conversation_id, message_id=first.message_id)
        notes.add_note(
            conversation_id=first.conversation_id, agent=agent, text=f"{name}: {text} @aiko"
        )
        conversations.resolve(conversation_id=first.conversation_id, agent=agent)
        second = accept_inbound(
            InboundPayload(
                user_id=external_id, phone_number=phone, name=name, message=f"{text} again"
            )
        )
        self.conversation_ids = sorted({first.conversation_id, second.conversation_id})
        self.contact = Contact.objects.get(external_id=external_id)
        LogEntry.objects.create(
            user=agent,
            content_type=ContentType.objects.get_for_model(Contact),
            object_id=str(self.contact.pk),
            object_repr=str(self.contact),
            action_flag=CHANGE,
        )

    @property
    def secrets(self) -> list[str]:
        return [self.external_id, self.phone, self.name, self.text]


def everything_stored() -> str:
    """Every row of every model (sessions and admin's log included), as text."""
    return "\n".join(
        serializers.serialize("json", model.objects.all()) for model in apps.get_models()
    )


@pytest.fixture
def two_customers(agent):
    erased = Customer(agent, "erase-me-7", "+4915550001234", "Erasmus Gone", "my order 7731")
    kept = Customer(agent, "keep-me-8", "+4915550009876", "Kaja Stays", "my parcel 8842")
    return erased, kept


def test_erasure_removes_every_row_and_feed_event_that_holds_the_customer(two_customers):
    erased, kept = two_customers
    # An event tied to no conversation that names them (as a counts or presence event
    # could), and one naming the other customer that must stay.
    InboxEvent.objects.create(kind="test.note", payload={"phone_number": erased.phone})
    InboxEvent.objects.create(kind="test.note", payload={"phone_number": kept.phone})
    before = everything_stored()
    assert all(secret in before for secret in erased.secrets + kept.secrets)

    erasure = erase_contact(
        external_id=erased.external_id, source=Source.COMMAND, requested_by="dpo"
    )

    after = everything_stored()
    leaked = [secret for secret in erased.secrets if secret in after]
    assert leaked == [], f"still stored after the erasure: {leaked}"
    assert all(secret in after for secret in kept.secrets)
    counts = erasure.counts
    assert list(counts) == list(COUNT_KEYS)
    assert counts["contacts"] == 1
    assert counts["conversations"] == 2
    assert counts["messages"] == Message.objects.filter(contact=kept.contact).count()
    assert counts["queued_messages"] >= 1  # the agent's reply never reached Braze
    assert counts["notes"] == 1
    assert counts["conversation_events"] >= 3  # opened, taken over, resolved, opened
    assert counts["read_marks"] == 1
    assert counts["profile_updates"] >= 2 and counts["queued_profile_updates"] >= 2
    assert counts["inbox_events"] >= 6
    assert counts["admin_log_entries"] == 1
    gone = erased.conversation_ids
    assert not Conversation.objects.filter(pk__in=gone).exists()
    assert not ConversationEvent.objects.filter(conversation_id__in=gone).exists()
    assert not Note.objects.filter(conversation_id__in=gone).exists()
    assert Note.objects.filter(conversation__contact=kept.contact).count() == 1
    assert not ConversationRead.objects.filter(conversation_id__in=gone).exists()
    assert not ProfileUpdate.objects.filter(contact_id=erased.contact.pk).exists()
    assert not InboxEvent.objects.filter(conversation_id__in=gone).exists()


def test_the_record_names_no_one_and_checks_the_id_by_its_keyed_digest(two_customers, settings):
    erased, _kept = two_customers

    erasure = erase_contact(
        external_id=erased.external_id, source=Source.ADMIN, requested_by="admin"
    )

    record = ErasureRecord.objects.get()
    expected = hmac.new(
        settings.SECRET_KEY.encode(), erased.external_id.encode(), hashlib.sha256
    ).hexdigest()
    assert record == erasure.record
    assert (record.subject_digest, record.source, record.requested_by) == (
        expected,
        "admin",
        "admin",
    )
    assert record.counts == erasure.counts
    assert erasures_of(erased.external_id) == [record]
    assert erasures_of("keep-me-8") == []
    # Rotating SECRET_KEY keeps old records checkable while the old key is a fallback.
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "y" * 40
    assert erasures_of(erased.external_id) == [record]


def test_open_inboxes_are_told_which_conversations_went_and_nothing_else(two_customers):
    erased, _kept = two_customers
    seq = InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    erase_contact(external_id=erased.external_id, source=Source.COMMAND)

    [event] = catch_up(seq).events
    assert event == {
        "seq": event["seq"],
        "type": "conversation.erased",
        "conversation_ids": erased.conversation_ids,
        "reason": "erasure",
    }


def test_an_unknown_external_id_raises_and_writes_nothing(two_customers):
    before = everything_stored()

    with pytest.raises(UnknownContact) as raised:
        erase_contact(external_id="nobody-we-know", source=Source.COMMAND)

    assert raised.value.erased_before == []
    assert everything_stored() == before


def test_the_same_customer_writing_again_after_the_erasure_is_a_new_contact(two_customers):
    erased, _kept = two_customers
    erase_contact(external_id=erased.external_id, source=Source.COMMAND)

    again = accept_inbound(
        InboundPayload(user_id=erased.external_id, phone_number=erased.phone, message="hi")
    )

    contact = Contact.objects.get(external_id=erased.external_id)
    assert contact.pk != erased.contact.pk
    assert list(contact.conversations.values_list("pk", flat=True)) == [again.conversation_id]
    assert again.conversation_id not in erased.conversation_ids
    assert Message.objects.filter(contact=contact).count() == 1


# --- The command ---------------------------------------------------------------------


def test_erase_contact_command_prints_what_it_removed_and_nothing_personal(two_customers, capsys):
    erased, _kept = two_customers

    call_command("erase_contact", erased.external_id, "--requested-by", "dpo@example.com")

    out = capsys.readouterr().out
    record = ErasureRecord.objects.get()
    assert f"erasure record {record.pk}" in out
    for key in COUNT_KEYS:
        assert f"  {key}: {record.counts[key]}\n" in out
    assert "docs/deploy.md" in out  # what stays in Braze
    assert not [secret for secret in erased.secrets if secret in out]
    assert (record.source, record.requested_by) == ("command", "dpo@example.com")


def test_erase_contact_command_with_an_unknown_id_fails_and_writes_nothing():
    before = everything_stored()
    env = server_env(connection.settings_dict, "http://127.0.0.1:9")

    done = subprocess.run(
        [sys.executable, "manage.py", "erase_contact", "nobody-we-know"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "No contact has this external id; nothing was erased." in done.stderr
    assert done.stdout == ""
    assert everything_stored() == before


def test_erasing_twice_says_when_it_was_erased_before(two_customers):
    erased, _kept = two_customers
    call_command("erase_contact", erased.external_id)

    with pytest.raises(CommandError, match="It was erased before: .*erase_contact command"):
        call_command("erase_contact", erased.external_id)

    assert ErasureRecord.objects.count() == 1


def test_check_says_whether_an_id_was_erased_without_erasing(two_customers, capsys):
    erased, kept = two_customers
    call_command("erase_contact", erased.external_id, "--requested-by", "dpo")
    capsys.readouterr()

    call_command("erase_contact", erased.external_id, "--check")
    assert "Erased: " in capsys.readouterr().out
    with pytest.raises(CommandError, match="No erasure of this external id is recorded."):
        call_command("erase_contact", kept.external_id, "--check")
    assert Contact.objects.filter(external_id=kept.external_id).exists()


# --- What was in flight -----------------------------------------------------------------


def test_a_reply_braze_had_when_its_customer_was_erased_is_dropped_quietly(agent, braze):
    customer = Customer(agent, "in-flight-1", "+4915550004444", "Ina Flight", "where is it")
    message = claim_next_outbound()
    assert message is not None and message.contact_id == customer.contact.pk
    erase_contact(external_id=customer.external_id, source=Source.COMMAND)
    newest = InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    deliver(message, BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY))

    assert braze.sent_messages(), "the stand-in never got the send: the test proves nothing"
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not InboxEvent.objects.filter(pk__gt=newest).exists()
    assert claim_next_outbound() is None  # the rest of their queue went with them


def test_profile_updates_braze_had_when_their_customer_was_erased_are_dropped_quietly(agent, braze):
    customer = Customer(agent, "in-flight-2", "+4915550006666", "Pia Profile", "hello")
    rows = profile_sync.claim_batch(now=timezone.now(), size=75)
    assert {row.contact_id for row in rows} == {customer.contact.pk}
    erase_contact(external_id=customer.external_id, source=Source.COMMAND)

    profile_sync.send(rows, BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY))

    assert braze.requests(path="/users/track"), "nothing reached the stand-in: proves nothing"
    assert not ProfileUpdate.objects.exists()


def test_a_message_erased_while_the_bot_thinks_is_dropped_quietly(settings):
    settings.HANDOFF_BOT = "tests.support.bots.SlowBot"
    SlowBot.started.clear()
    accepted = accept_inbound(
        InboundPayload(user_id="slow-1", phone_number="+4915550005555", message="hello?")
    )
    failures = []

    def router():
        try:
            route_next()
        except Exception as error:  # what the worker thread would log as a failure
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=router)
    thread.start()
    assert SlowBot.started.wait(5), "the bot was never asked"
    erase_contact(external_id="slow-1", source=Source.COMMAND)
    thread.join(10)

    assert failures == []
    assert not Conversation.objects.filter(pk=accepted.conversation_id).exists()
    assert not Message.objects.exists()
    assert not InboxEvent.objects.filter(conversation_id=accepted.conversation_id).exists()


# --- Retention --------------------------------------------------------------------------


def resolved_conversation(external_id: str, *, resolved_at, last_seen_at=None) -> Conversation:
    contact, _ = Contact.objects.get_or_create(
        external_id=external_id,
        defaults={"phone_number": f"+49{external_id[-6:]}", "last_seen_at": resolved_at},
    )
    if last_seen_at is not None:
        Contact.objects.filter(pk=contact.pk).update(last_seen_at=last_seen_at)
    conversation = Conversation.objects.create(
        contact=contact, state=Conversation.State.RESOLVED, resolved_at=resolved_at
    )
    Message.objects.create(
        conversation=conversation,
        contact=contact,
        direction="in",
        author_kind="customer",
        text=f"text of {external_id}",
        routing_state="done",
    )
    ConversationEvent.objects.create(conversation=conversation, kind="resolved", actor_kind="agent")
    InboxEvent.objects.create(kind="conversation.updated", conversation_id=conversation.pk)
    return conversation


def test_retention_prunes_resolved_conversations_older_than_the_limit_and_empty_contacts():
    now = timezone.now()
    old = resolved_conversation("old-000001", resolved_at=now - timedelta(days=31))
    old_too = resolved_conversation("old-000002", resolved_at=now - timedelta(days=40))
    recent = resolved_conversation("new-000003", resolved_at=now - timedelta(days=29))
    # A customer with an old resolved conversation who is talking to us again.
    returning = resolved_conversation(
        "ret-000004", resolved_at=now - timedelta(days=60), last_seen_at=now
    )
    open_one = Conversation.objects.create(contact=returning.contact)
    # An old conversation whose last reply is still queued for Braze waits.
    busy = resolved_conversation("bsy-000005", resolved_at=now - timedelta(days=50))
    Message.objects.create(
        conversation=busy,
        contact=busy.contact,
        direction="out",
        author_kind="system",
        text="bye",
        delivery_state="queued",
    )

    counts = prune_retention(now, days=30, batch=1)

    remaining = set(Conversation.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, open_one.pk, busy.pk}
    assert set(Contact.objects.values_list("external_id", flat=True)) == {
        "new-000003",
        "ret-000004",
        "bsy-000005",
    }
    assert not Message.objects.filter(conversation_id__in=[old.pk, old_too.pk]).exists()
    assert counts["conversations"] == 3
    assert counts["contacts"] == 2
    assert counts["messages"] == 3
    assert counts["conversation_events"] == 3
    assert counts["inbox_events"] == 3
    [record] = ErasureRecord.objects.all()
    assert (record.source, record.subject_digest, record.counts) == ("retention", "", counts)
    assert record.erased_at == now
    erased_events = [
        event for event in catch_up(0).events if event["type"] == "conversation.erased"
    ]
    assert sorted(i for e in erased_events for i in e["conversation_ids"]) == sorted(
        [old.pk, old_too.pk, returning.pk]
    )
    assert {e["reason"] for e in erased_events} == {"retention"}


def test_retention_run_again_finds_nothing_and_records_nothing():
    now = timezone.now()
    resolved_conversation("old-000001", resolved_at=now - timedelta(days=31))
    prune_retention(now, days=30)

    assert not any(prune_retention(now, days=30).values())
    assert ErasureRecord.objects.count() == 1


def test_no_retention_setting_keeps_everything(settings):
    settings.HANDOFF_RETENTION_DAYS = 0
    resolved_conversation("old-000001", resolved_at=timezone.now() - timedelta(days=3650))

    assert prune_retention() == {}
    assert Conversation.objects.count() == 1
    assert not ErasureRecord.objects.exists()


def test_the_workers_hourly_chore_applies_the_retention_setting(settings):
    settings.HANDOFF_RETENTION_DAYS = 30
    resolved_conversation("old-000001", resolved_at=timezone.now() - timedelta(days=31))
    [chore] = [chore for chore in CHORES if chore.name == "prune_retention"]

    chore.job()

    assert not Conversation.objects.exists()
    assert ErasureRecord.objects.get().requested_by == "workers"


def test_prune_retention_command_reports_counts(settings, capsys):
    settings.HANDOFF_RETENTION_DAYS = 0
    resolved_conversation("old-000001", resolved_at=timezone.now() - timedelta(days=31))

    call_command("prune_retention")
    assert "nothing pruned" in capsys.readouterr().out
    assert Conversation.objects.count() == 1

    call_command("prune_retention", "--days", "30")
    out = capsys.readouterr().out
    assert "  conversations: 1\n" in out and "  contacts: 1\n" in out
    assert not Conversation.objects.exists()
    with pytest.raises(CommandError):
        call_command("prune_retention", "--days", "-1")


# --- Logs ---------------------------------------------------------------------------------


def test_a_database_failure_on_the_webhook_logs_no_customer_data(client, monkeypatch, caplog):
    """PostgreSQL's detail lines quote the row (a unique key, or a whole failing row)."""

    def fail(payload):
        raise IntegrityError(
            'duplicate key value violates unique constraint "handoff_contact_external_id_key"\n'
            f"DETAIL:  Key (external_id)=({payload.user_id}) already exists.\n"
            f"Failing row contains ({payload.phone_number}, {payload.message})."
        )

    monkeypatch.setattr("handoff.web.webhook.accept_inbound", fail)

    response = client.post(
        "/webhooks/braze/whatsapp/",
        data=json.dumps(
            {"user_id": "log-me-not", "phone_number": "+4915550007777", "message": "secret text"}
        ),
        content_type="application/json",
        headers={"Authorization": "Bearer test-webhook-secret"},
    )

    assert response.status_code == 503
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert not [s for s in ("log-me-not", "+4915550007777", "secret text") if s in logged]
    assert "Could not store an inbound message (IntegrityError: duplicate key value" in logged
