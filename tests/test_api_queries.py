"""The inbox's reads cost a fixed number of SQL queries, and use indexes, at any size."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from handoff.models import Contact, Conversation, ConversationRead, Message
from handoff.selectors import inbox
from tests.support.agents import make_agent

pytestmark = pytest.mark.django_db

STATES = ["waiting", "assigned", "bot", "resolved"]
REQUESTS = {
    "waiting": "/api/conversations/?queue=waiting",
    "mine": "/api/conversations/?queue=mine",
    "bot": "/api/conversations/?queue=bot",
    "resolved": "/api/conversations/?queue=resolved",
    "all": "/api/conversations/?queue=all",
    "all, q=refund": "/api/conversations/?queue=all&q=refund",
    "waiting, q=+8190": "/api/conversations/?queue=waiting&q=%2B8190",
    "all, second page": None,  # filled in with the first page's cursor
    "counts": "/api/counts/",
    "pane": None,  # the first conversation's pane
}


@pytest.fixture
def agent(agents_group):
    make_agent("aiko")
    return get_user_model().objects.get(username="aiko")


def populate(total: int, agent) -> None:
    """Grow the installation to `total` conversations, each with two messages, in bulk."""
    start = Conversation.objects.count()
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(external_id=f"user-{n}", phone_number=f"+8190{n:08d}", name=f"Customer {n}")
        for n in range(start, total)
    )
    conversations = Conversation.objects.bulk_create(
        Conversation(
            contact=contact,
            state=STATES[n % 4],
            assignee=agent if STATES[n % 4] == "assigned" else None,
            escalated_at=now - timedelta(seconds=n),
            resolved_at=now - timedelta(seconds=n) if STATES[n % 4] == "resolved" else None,
            last_message_at=now - timedelta(seconds=n),
        )
        for n, contact in enumerate(contacts, start=start)
    )
    messages = []
    for n, conversation in enumerate(conversations, start=start):
        common = {"conversation": conversation, "contact_id": conversation.contact_id}
        text = "I want a refund" if n % 7 == 0 else f"question {n}"
        messages.append(Message(direction="in", author_kind="customer", text=text, **common))
        messages.append(
            Message(
                direction="out", author_kind="bot", text="answer", delivery_state="sent", **common
            )
        )
    Message.objects.bulk_create(messages, batch_size=2000)
    ConversationRead.objects.bulk_create(
        ConversationRead(agent=agent, conversation=c, last_read_message_id=0)
        for c in conversations[::3]
    )


def measure(client: Client) -> dict[str, int]:
    first = Conversation.objects.order_by("pk").first()
    cursor = client.get("/api/conversations/?queue=all&limit=5").json()["next_cursor"]
    counts = {}
    for name, path in REQUESTS.items():
        if name == "all, second page":
            path = f"/api/conversations/?queue=all&limit=5&cursor={cursor}"
        elif name == "pane":
            path = f"/api/conversations/{first.pk}/"
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, (name, response.content[:300])
        if name not in ("counts", "pane"):
            assert response.json()["conversations"], f"{name} found nothing: proves nothing"
        counts[name] = len(queries)
    return counts


def test_inbox_reads_make_the_same_number_of_queries_for_10_and_10000_conversations(agent):
    client = Client()
    client.force_login(agent)
    populate(10, agent)
    small = measure(client)
    populate(10_000, agent)
    assert Conversation.objects.count() == 10_000

    large = measure(client)

    print("\nSQL queries per request (10 vs 10,000 conversations):")
    for name in REQUESTS:
        print(f"  {name:18} {small[name]:3} vs {large[name]:3}")
    assert small == large


def plan(queryset) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[-1] for row in cursor.fetchall()]


def postgres_plan(queryset) -> list[str]:
    """The plan with scans and sorts priced out: PostgreSQL still picks one only when
    no index can serve the query (its planner rightly prefers scans on small tables)."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return [row[0].strip() for row in cursor.fetchall()]


@pytest.mark.parametrize("queue", ["waiting", "mine", "bot", "resolved", "all"])
def test_a_queue_page_reads_conversations_and_messages_through_indexes(agent, queue):
    """No full scan (the "all" queue walks its ordering index, conv_recent, and stops
    after a page) and no sort of the whole queue."""
    populate(200, agent)
    spec = inbox.queue_spec(queue, agent)
    page = inbox.queue_rows(spec=spec, agent=agent)[:51]

    if connection.vendor == "postgresql":
        steps = postgres_plan(page)
        print(f"\n{queue} queue plan:\n  " + "\n  ".join(steps))
        assert not [step for step in steps if "Seq Scan" in step], "a full scan"
        sorts = [step for step in steps if step.startswith(("Sort ", "->  Sort ", "->  Incr"))]
        assert not sorts, f"the page sorts its queue: {sorts}"
        assert any("msg_transcript" in step for step in steps)
        return
    steps = plan(page)

    print(f"\n{queue} queue plan:\n  " + "\n  ".join(steps))
    scans = [step for step in steps if step.startswith("SCAN") and "conv_recent" not in step]
    assert not scans, f"a full scan in the {queue} queue's page: {scans}"
    assert not [step for step in steps if "TEMP B-TREE" in step], "the page sorts its queue"
    assert any("msg_transcript" in step for step in steps)
