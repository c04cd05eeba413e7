"""The events agents' browsers receive: one builder per kind, one publish path.

Both the services (which publish) and the inbox (API and socket) use these shapes,
documented in docs/websocket.md. An event is stored as an InboxEvent row in the
transaction that made the change (its id is the event's sequence number) and pushed
to the sockets only after that transaction commits, so a browser never sees a change
that was rolled back, and one that reconnects can ask for exactly what it missed.

Ephemeral notices (who is viewing or typing) are not changes: they carry no sequence
number, are not stored and are not replayed.
"""

from django.db import connection, transaction
from django.db.models.functions import Left
from django.utils import timezone

from handoff.db import statements
from handoff.db.at_commit import CommitsWith
from handoff.live.broadcast import send_to_agents
from handoff.models import Conversation, ConversationEvent, InboxEvent, Message, Note
from handoff.rules import service_window


def message_data(message: Message) -> dict:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "author_kind": message.author_kind,
        "author": message.author.get_username() if message.author_id else None,
        "text": message.text,
        "media_urls": message.media_urls,
        # Inbound only: the webhook campaign's routing hint ("" from the catch-all).
        "topic": message.topic,
        "campaign": campaign_data(message),
        "created_at": message.created_at.isoformat(),
        "delivery": delivery_data(message)
        if message.direction == Message.Direction.OUTBOUND
        else None,
    }


def campaign_data(message: Message) -> dict | None:
    """The Braze campaign an outbound message went through; None for plain text
    (the settings' reply campaign). Load it with select_related("campaign")."""
    if message.campaign_id is None:
        return None
    campaign = message.campaign
    return {
        "key": campaign.key,
        "name": campaign.name,
        "kind": campaign.kind,
        "properties": message.campaign_properties,
    }


def delivery_data(message: Message) -> dict:
    return {
        "state": message.delivery_state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat() if message.next_attempt_at else None,
        "last_error": message.last_error,
        "dispatch_id": message.dispatch_id,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
    }


# How much of the last message a list row shows (the API's summaries and the events).
PREVIEW_CHARS = 200


def preview_data(row: dict | None) -> dict | None:
    """A row's preview from a message's `id`, `author_kind`, `created_at` and `preview`
    (the text's first PREVIEW_CHARS characters, cut by the query)."""
    if row is None:
        return None
    return {
        "id": row["id"],
        "author_kind": row["author_kind"],
        "text": row["preview"],
        "created_at": row["created_at"].isoformat(),
    }


def preview_rows(messages):
    """The messages as `preview_data` reads them."""
    return messages.values("id", "author_kind", "created_at", preview=Left("text", PREVIEW_CHARS))


def last_message_preview(conversation_id: int) -> dict | None:
    """The row's preview: the latest message but the system's notices (one query)."""
    latest = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(author_kind=Message.AuthorKind.SYSTEM)
        .order_by("-pk")
    )
    return preview_data(preview_rows(latest).first())


def contact_data(contact) -> dict:
    return {
        "id": contact.pk,
        "external_id": contact.external_id,
        "phone_number": contact.phone_number,
        "name": contact.name,
    }


def conversation_data(conversation: Conversation) -> dict:
    """The conversation as the inbox list shows it (the contact is read from
    `conversation.contact`: load it with select_related)."""
    waiting = conversation.state == Conversation.State.WAITING
    return {
        "id": conversation.pk,
        "contact_id": conversation.contact_id,
        "contact": contact_data(conversation.contact),
        "state": conversation.state,
        "assignee": conversation.assignee.get_username() if conversation.assignee_id else None,
        "escalation_reason": conversation.escalation_reason,
        "escalation_kind": conversation.escalation_kind,
        "escalation_detail": conversation.escalation_detail,
        "topic": conversation.topic,
        "queue_label": conversation.queue_label,
        "team": conversation.team.name if conversation.team_id else None,
        "satisfaction_score": conversation.satisfaction_score,
        "created_at": _iso(conversation.created_at),
        "escalated_at": _iso(conversation.escalated_at),
        "assigned_at": _iso(conversation.assigned_at),
        "resolved_at": _iso(conversation.resolved_at),
        "last_message_at": _iso(conversation.last_message_at),
        "waiting_since": _iso(conversation.waiting_since or conversation.escalated_at)
        if waiting
        else _iso(conversation.waiting_since),
        "reply_due_at": _iso(conversation.reply_due_at),
        "sla": sla_data(conversation),
        "window_closes_at": _iso(service_window.closes_at(conversation.contact)),
        # Set while it waits moved ahead of older ones, its window closing soon.
        "serve_by": _iso(conversation.serve_by),
    }


def sla_data(conversation: Conversation) -> dict | None:
    """The nearest SLA clock as stored (services/sla.py keeps it current): when it is
    due, which clock, and ok / at_risk / breached; None when no clock runs."""
    if conversation.sla_due_at is None or not conversation.sla_state:
        return None
    return {
        "due_at": _iso(conversation.sla_due_at),
        "kind": conversation.sla_kind,
        "state": conversation.sla_state,
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def event_data(event: ConversationEvent) -> dict:
    return {
        "id": event.pk,
        "conversation_id": event.conversation_id,
        "kind": event.kind,
        "actor_kind": event.actor_kind,
        "actor": event.actor.get_username() if event.actor_id else None,
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def note_data(note: Note, *, mentions: list[str] | None = None) -> dict:
    """A private note as agents see it. `mentions` are the usernames it notified, in
    the order written; without them they are read from `note.mentions` (prefetch
    `mentions__agent`, ordered by id)."""
    if mentions is None:
        mentions = [mention.agent.get_username() for mention in note.mentions.all()]
    return {
        "id": note.pk,
        "conversation_id": note.conversation_id,
        # The author's username now, or as it was when the account still existed.
        "author": note.author.get_username() if note.author_id else note.author_name,
        "text": note.text,
        "mentions": mentions,
        "created_at": note.created_at.isoformat(),
    }


# PostgreSQL: number each event as its transaction commits (`_NumberedAtCommit`). The
# tests that run inside one transaction rolled back at their end, never committed, turn
# this off (tests/conftest.py): their events are numbered at once, as on SQLite.
NUMBER_AT_COMMIT = True


def publish(kind: str, data: dict, *, conversation_id: int | None = None) -> dict:
    """Store `{type: kind, ...data}` as the next event and push it to every agent's
    socket once the current transaction commits. Returns the event: its `seq` is set
    by the time the transaction has committed (on PostgreSQL not before: the event
    is numbered as the transaction commits, see `_NumberedAtCommit`)."""
    row = InboxEvent(
        kind=kind, conversation_id=conversation_id, payload=data, created_at=timezone.now()
    )
    event = {"seq": None, "type": kind, **data}
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql" and NUMBER_AT_COMMIT:
            transaction.on_commit(_NumberedAtCommit(row, event))
        else:
            # SQLite: the transaction holds the one write lock from its start anyway.
            if connection.vendor == "postgresql":
                _hold_numbering_until_commit()
            statements.insert(row)
            event["seq"] = row.pk
            transaction.on_commit(lambda: send_to_agents(event))
    return event


class _NumberedAtCommit(CommitsWith):
    """An event inserted, and so numbered, as its transaction commits; then pushed.

    The feed's numbers must commit in order (a client catching up after event 11 must
    never miss event 10 committing later), so they are taken under a lock held until
    the commit (`FEED_NUMBERING_LOCK`). Taken at the first event a transaction
    published, every event-publishing transaction of every process queued behind the
    rest of the others' work; here the lock, the inserts and the COMMIT go to the server
    as one query string (handoff/db/at_commit.py). The first of a transaction's events
    asked for its statements inserts them all, in the order published.
    """

    def __init__(self, row: InboxEvent, event: dict) -> None:
        self.row = row
        self.event = event
        self.batch: list[_NumberedAtCommit] | None = None

    def statements(self, cursor) -> list[str]:
        if self.batch is not None:
            return []
        batch = [
            callback
            for _savepoints, callback, _robust in connection.run_on_commit
            if isinstance(callback, _NumberedAtCommit) and callback.batch is None
        ]
        for callback in batch:
            callback.batch = batch
        return [
            f"SELECT pg_advisory_xact_lock({FEED_NUMBERING_LOCK})",
            statements.insert_many_statement([callback.row for callback in batch], cursor),
        ]

    def took(self, results) -> None:
        _locked, numbered = results
        for callback, (pk,) in zip(self.batch, numbered, strict=True):
            callback.row.pk = pk
            callback.event["seq"] = pk

    def __call__(self) -> None:
        send_to_agents(self.event)


# Any constant unique to this lock among the application's advisory locks.
FEED_NUMBERING_LOCK = 0x68616E646F6666  # "handoff"


def _hold_numbering_until_commit() -> None:
    """Make events commit in the order of their numbers, on PostgreSQL, for an event
    numbered at once (a test rolled back at its end: see NUMBER_AT_COMMIT).

    A sequence hands out numbers at insert, but transactions commit in any order: a
    browser catching up after event 11 committed could then miss event 10 committing
    a moment later, for good. Holding this lock from the insert to the commit makes
    the next number wait for the previous commit. SQLite needs nothing: it has one
    writer at a time.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FEED_NUMBERING_LOCK])


def publish_ephemeral(kind: str, data: dict) -> None:
    """Push a notice that is not a change (typing, viewing): no number, not stored."""
    send_to_agents({"type": kind, **data})


def as_sent(row: InboxEvent) -> dict:
    """A stored event in the shape the socket sent it."""
    return {"seq": row.pk, "type": row.kind, **row.payload}


def latest_seq() -> int:
    return InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def publish_presence(
    *, agent: str, online: bool, status: str, capacity: int, open_count: int
) -> dict:
    """Everything the other agents see of one agent, whole: a client replaces what it
    knew of them. `status` is available, away, or offline (exactly when not online)."""
    return publish(
        "presence",
        {
            "agent": agent,
            "online": online,
            "status": status,
            "capacity": capacity,
            "open_count": open_count,
        },
    )


ACCESS_CHANGED = "access.changed"


def publish_access_changed(agent_ids: list[int], *, pending: bool = False) -> dict:
    """`pending`: a change is about to commit outside any transaction (revocation's
    `save_begins`); the sockets hold later events until its own event arrives."""
    return publish(
        ACCESS_CHANGED, {"agent_ids": agent_ids, **({"pending": True} if pending else {})}
    )


def publish_message_created(message: Message) -> None:
    publish(
        "message.created",
        {"message": message_data(message)},
        conversation_id=message.conversation_id,
    )


def publish_note_created(note: Note, *, mentions: list[str]) -> None:
    """Every agent's inbox shows the note; the inboxes of those it `mentions` notify
    their agent. Stored under its conversation, so erasing it takes the event too."""
    publish(
        "note.created",
        {"note": note_data(note, mentions=mentions)},
        conversation_id=note.conversation_id,
    )


def publish_delivery_changed(message: Message) -> None:
    publish(
        "message.delivery",
        {
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "delivery": delivery_data(message),
        },
        conversation_id=message.conversation_id,
    )


def publish_conversation_changed(
    conversation: Conversation, event: ConversationEvent | None
) -> None:
    """With the row's preview: a page that was not sent the conversation's messages
    (they were outside the list it showed, rules/event_audience.py) still shows what
    the customer last wrote when the row comes into its list. A conversation just
    opened has no message yet."""
    opened = event is not None and event.kind == ConversationEvent.Kind.OPENED
    publish(
        "conversation.updated",
        {
            "conversation": {
                **conversation_data(conversation),
                "last_message": None if opened else last_message_preview(conversation.pk),
            },
            "event": event_data(event) if event else None,
        },
        conversation_id=conversation.pk,
    )


def publish_conversations_erased(conversation_ids: list[int], *, reason: str) -> None:
    """Tell the inboxes to drop these conversations (erased on request, or past the
    retention): ids only, never who they were with or what was said."""
    publish("conversation.erased", {"conversation_ids": conversation_ids, "reason": reason})
