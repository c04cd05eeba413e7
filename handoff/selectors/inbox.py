"""The inbox's read side: queues, search, pages, counts and the conversation pane.

Every function here makes a fixed number of SQL queries whatever the number of
conversations or messages (per-row facts such as the last message and the unread mark
are subqueries of the one list query), because an inbox is reloaded often and a
busy installation holds tens of thousands of conversations. It never changes a row:
writes go through `handoff.services`.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime

from handoff.live.events import (
    contact_data,
    conversation_data,
    event_data,
    message_data,
    note_data,
    preview_data,
    preview_rows,
)
from handoff.models import (
    Conversation,
    ConversationEvent,
    ConversationRead,
    Message,
    Note,
    NoteMention,
    Team,
    TopicRoute,
)
from handoff.rules import service_window

State = Conversation.State

PANE_MESSAGES = 500
# The longest queue label a conversation can carry: a longer filter can match nothing.
MAX_LABEL_CHARS = Conversation._meta.get_field("queue_label").max_length


class QueryError(ValueError):
    """A list request that cannot be answered (bad cursor); the message says why."""


@dataclass(frozen=True)
class Queue:
    """Which conversations a queue holds and the order its pages walk them in."""

    name: str
    filter: Q
    field: str  # the ordering column; ties are broken by id in the same direction
    descending: bool
    nullable: bool = False
    # A column ordered before `field` (ascending, nulls last): the waiting queue's
    # deadline of those moved ahead for their closing window (desk.SERVING_ORDER).
    priority: str | None = None


def my_queues(agent: AbstractBaseUser) -> Q:
    """The waiting conversations `agent` sees: those of no team (everyone's) and of
    their teams; staff see every team's."""
    if agent.is_staff:
        return Q(state=State.WAITING)
    mine = Team.objects.filter(members=agent).values("pk")
    return Q(state=State.WAITING) & (Q(team__isnull=True) | Q(team_id__in=mine))


def queue_spec(name: str, agent: AbstractBaseUser) -> Queue:
    return {
        "waiting": Queue(
            "waiting", my_queues(agent), "escalated_at", False, nullable=True, priority="serve_by"
        ),
        "mine": Queue(
            "mine", Q(state=State.ASSIGNED, assignee_id=agent.pk), "last_message_at", False
        ),
        "bot": Queue("bot", Q(state=State.BOT), "last_message_at", True),
        "resolved": Queue("resolved", Q(state=State.RESOLVED), "resolved_at", True, nullable=True),
        "all": Queue("all", Q(), "last_message_at", True),
    }[name]


QUEUES = ("waiting", "mine", "bot", "resolved", "all")


@dataclass(frozen=True)
class Page:
    conversations: list[dict]
    next_cursor: str | None


def conversation_page(
    *,
    agent: AbstractBaseUser,
    queue: str,
    q: str = "",
    label: str = "",
    cursor: str = "",
    limit: int = 50,
) -> Page:
    """One page of a queue, optionally narrowed by a search and a queue label, after
    `cursor`.

    Keyset pagination (the last row's ordering value and id), not OFFSET: a page is
    as cheap on the thousandth page as on the first, and conversations that arrive or
    leave while an agent scrolls do not shift the others into being shown twice or
    skipped.
    """
    spec = queue_spec(queue, agent)
    rows = queue_rows(spec=spec, agent=agent, q=q, label=label)
    if cursor:
        rows = rows.filter(_after(spec, decode_cursor(cursor, queue=queue)))
    conversations = list(rows[: limit + 1])
    more = len(conversations) > limit
    conversations = conversations[:limit]
    next_cursor = None
    if more:
        last = conversations[-1]
        first = getattr(last, spec.priority) if spec.priority else None
        next_cursor = encode_cursor(queue, getattr(last, spec.field), last.pk, first=first)
    return Page(summaries(conversations), next_cursor)


def queue_rows(
    *, spec: Queue, agent: AbstractBaseUser, q: str = "", label: str = ""
) -> QuerySet[Conversation]:
    """The queue's conversations in page order, annotated for `summaries`."""
    rows = with_summary_facts(Conversation.objects.filter(spec.filter), agent)
    if label.strip():
        rows = rows.filter(queue_label=label.strip())
    if q.strip():
        rows = rows.filter(search_filter(q.strip()))
    return rows.order_by(*_ordering(spec))


def search_filter(q: str) -> Q:
    """Contact fields, or any message of the conversation containing the text.

    EXISTS rather than a join so a conversation with many matching messages is
    still one row.
    """
    matching_message = Message.objects.filter(conversation_id=OuterRef("pk"), text__icontains=q)
    return (
        Q(contact__phone_number__icontains=q)
        | Q(contact__name__icontains=q)
        | Q(contact__external_id__icontains=q)
        | Exists(matching_message)
    )


def with_summary_facts(rows: QuerySet[Conversation], agent: AbstractBaseUser) -> QuerySet:
    """Add what a summary needs beyond the row: its last message id and my unread mark.

    Both are correlated subqueries that walk the (conversation, id) index from one
    end, so their cost per row does not depend on the length of the conversation.
    """
    # The preview skips system texts (the hand-over notice would otherwise be the last
    # line of every waiting chat); they are rare, so the walk back stays short.
    last_message = (
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .exclude(author_kind=Message.AuthorKind.SYSTEM)
        .order_by("-pk")
    )
    read_to = ConversationRead.objects.filter(conversation_id=OuterRef("pk"), agent_id=agent.pk)
    unread_message = Message.objects.filter(
        conversation_id=OuterRef("pk"),
        direction=Message.Direction.INBOUND,
        pk__gt=OuterRef("read_to"),
    )
    return (
        rows.select_related("contact", "assignee", "team")
        .annotate(
            last_message_id=Subquery(last_message.values("pk")[:1]),
            read_to=Coalesce(Subquery(read_to.values("last_read_message_id")[:1]), Value(0)),
        )
        .annotate(unread=Exists(unread_message))
    )


def summaries(conversations: list[Conversation]) -> list[dict]:
    """Summaries of conversations loaded through `with_summary_facts`, with one more
    query for all their last messages together."""
    ids = [c.last_message_id for c in conversations if c.last_message_id]
    previews = {}
    if ids:
        previews = {row["id"]: row for row in preview_rows(Message.objects.filter(pk__in=ids))}
    return [_summary(c, previews.get(c.last_message_id)) for c in conversations]


def _summary(conversation: Conversation, last: dict | None) -> dict:
    return {
        **conversation_data(conversation),
        "last_message": preview_data(last),
        "unread": conversation.unread,
    }


def summary(*, conversation_id: int, agent: AbstractBaseUser) -> dict | None:
    """One conversation's summary as `agent` sees it (None if there is no such one)."""
    rows = list(with_summary_facts(Conversation.objects.filter(pk=conversation_id), agent))
    return summaries(rows)[0] if rows else None


def counts(*, agent: AbstractBaseUser, label: str = "") -> dict[str, int]:
    """How many conversations each queue holds (with `label`, of that queue label only),
    in one query."""
    rows = Conversation.objects.all()
    if label.strip():
        rows = rows.filter(queue_label=label.strip())
    totals = rows.aggregate(
        waiting=Count("pk", filter=my_queues(agent)),
        mine=Count("pk", filter=Q(state=State.ASSIGNED, assignee_id=agent.pk)),
        bot=Count("pk", filter=Q(state=State.BOT)),
        resolved=Count("pk", filter=Q(state=State.RESOLVED)),
        all=Count("pk"),
    )
    return {name: totals[name] for name in QUEUES}


def queue_labels() -> list[str]:
    """The labels an agent can filter by: those active topic routes give, and those
    open conversations carry (a route renamed or switched off leaves some behind)."""
    from_routes = TopicRoute.objects.filter(is_active=True).exclude(queue_label="")
    from_open = Conversation.objects.exclude(state=State.RESOLVED).exclude(queue_label="")
    labels = set(from_routes.values_list("queue_label", flat=True).distinct())
    labels |= set(from_open.values_list("queue_label", flat=True).distinct())
    return sorted({label.strip() for label in labels if label.strip()}, key=str.casefold)


def conversation_pane(*, conversation_id: int, agent: AbstractBaseUser) -> dict | None:
    """Everything the open conversation shows; None if there is no such conversation."""
    rows = list(with_summary_facts(Conversation.objects.filter(pk=conversation_id), agent))
    if not rows:
        return None
    conversation = rows[0]
    recent = list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author", "campaign")
        .order_by("-pk")[: PANE_MESSAGES + 1]
    )
    events = (
        ConversationEvent.objects.filter(conversation_id=conversation_id)
        .select_related("actor")
        .order_by("pk")
    )
    earlier = (
        Conversation.objects.filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation_id)
        .order_by("-created_at", "-pk")
    )
    return {
        "conversation": summaries(rows)[0],
        "contact": pane_contact(conversation.contact),
        "messages": [message_data(m) for m in reversed(recent[:PANE_MESSAGES])],
        "has_earlier_messages": len(recent) > PANE_MESSAGES,
        "events": [event_data(e) for e in events],
        "notes": [note_data(n) for n in conversation_notes(conversation_id)],
        "earlier_conversations": [
            {
                "id": c.pk,
                "state": c.state,
                "created_at": c.created_at.isoformat(),
                "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
                "escalation_reason": c.escalation_reason,
            }
            for c in earlier
        ],
    }


def conversation_notes(conversation_id: int) -> QuerySet[Note]:
    """The conversation's private notes, oldest first, loaded for `note_data` (two
    queries whatever their number)."""
    mentions = NoteMention.objects.select_related("agent").order_by("pk")
    return (
        Note.objects.filter(conversation_id=conversation_id)
        .select_related("author")
        .prefetch_related(Prefetch("mentions", queryset=mentions))
        .order_by("pk")
    )


def pane_contact(contact, *, now: datetime | None = None) -> dict:
    """The contact with WhatsApp's service window: free-form replies reach the customer
    only within 24 hours of their last message."""
    closes = service_window.closes_at(contact)
    return {
        **contact_data(contact),
        "first_seen_at": contact.first_seen_at.isoformat(),
        "last_inbound_at": contact.last_inbound_at.isoformat() if contact.last_inbound_at else None,
        "window_closes_at": closes.isoformat() if closes else None,
        "window_open": service_window.is_open(contact, now),
    }


# --- Keyset cursors --------------------------------------------------------------------


def _ordering(spec: Queue) -> list:
    # NULLs placed explicitly (first when ascending, last when descending), so the
    # cursor's comparisons mean the same on every database.
    column = F(spec.field)
    first = [F(spec.priority).asc(nulls_last=True)] if spec.priority else []
    if spec.descending:
        return [*first, column.desc(nulls_last=True) if spec.nullable else column.desc(), "-pk"]
    return [*first, column.asc(nulls_first=True) if spec.nullable else column.asc(), "pk"]


def _after(spec: Queue, position: "Position") -> Q:
    """Rows strictly after `position` in the queue's order."""
    after = _after_in_field(spec, position.value, position.pk)
    if not spec.priority:
        return after
    column = spec.priority
    if position.first is None:
        return Q(**{f"{column}__isnull": True}) & after
    return (
        Q(**{f"{column}__gt": position.first})
        | (Q(**{column: position.first}) & after)
        | Q(**{f"{column}__isnull": True})
    )


def _after_in_field(spec: Queue, value: datetime | None, pk: int) -> Q:
    field = spec.field
    if spec.descending:
        if value is None:
            return Q(**{f"{field}__isnull": True, "pk__lt": pk})
        after = Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk})
        return after | Q(**{f"{field}__isnull": True}) if spec.nullable else after
    if value is None:
        return Q(**{f"{field}__isnull": True, "pk__gt": pk}) | Q(**{f"{field}__isnull": False})
    return Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk})


@dataclass(frozen=True)
class Position:
    """The last row of a page, as its cursor holds it."""

    value: datetime | None
    pk: int
    first: datetime | None = None  # the queue's priority column, when it has one


def encode_cursor(
    queue: str, value: datetime | None, pk: int, *, first: datetime | None = None
) -> str:
    fields = [queue, value.isoformat() if value else None, pk]
    if first is not None:
        fields.append(first.isoformat())
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, queue: str) -> Position:
    """The position a cursor of this queue points at; QueryError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, value, pk, *rest = json.loads(raw)
        moment = parse_datetime(value) if value is not None else None
        first = parse_datetime(rest[0]) if rest else None
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise QueryError("The cursor is not one this list gave out.") from error
    if name != queue:
        raise QueryError(f"The cursor belongs to the {name!s:.20} queue, not to {queue}.")
    if type(pk) is not int or (value is not None and moment is None) or len(rest) > 1:
        raise QueryError("The cursor is not one this list gave out.")
    if rest and first is None:
        raise QueryError("The cursor is not one this list gave out.")
    return Position(moment, pk, first)
