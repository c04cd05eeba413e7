"""The inbox feed's numbers on PostgreSQL: taken as each transaction commits, in the
same round trip as its COMMIT (handoff/db/at_commit.py), so they follow commit order
while no transaction waits on another's unfinished work to publish."""

import threading

import pytest
from django.db import connection, transaction

from handoff.live import events
from handoff.models import InboxEvent
from tests.test_scale import production_engines  # noqa: F401 - fixture

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pushed(monkeypatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(events, "send_to_agents", sent.append)
    return sent


def test_an_event_published_first_but_committed_last_is_numbered_last(pushed):
    published = threading.Event()
    other_committed = threading.Event()
    published_first: list[dict] = []

    def publish_then_wait() -> None:
        try:
            with transaction.atomic():
                published_first.append(events.publish("test.first", {}))
                published.set()
                # Before this change the second transaction waited here for the lock.
                assert other_committed.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=publish_then_wait)
    thread.start()
    assert published.wait(10)
    with transaction.atomic():
        second = events.publish("test.second", {})
        assert second["seq"] is None  # numbered as the transaction commits
    other_committed.set()
    thread.join(10)
    (first,) = published_first

    rows = list(InboxEvent.objects.order_by("pk").values_list("pk", "kind"))
    assert [kind for _, kind in rows] == ["test.second", "test.first"]
    assert (second["seq"], first["seq"]) == tuple(pk for pk, _ in rows)
    assert [event["type"] for event in pushed] == ["test.second", "test.first"]
    assert [event["seq"] for event in pushed] == [pk for pk, _ in rows]


def test_a_savepoint_rolled_back_takes_its_events_and_leaves_no_hole(pushed):
    with transaction.atomic():
        kept = events.publish("test.kept", {"n": 1})
        try:
            with transaction.atomic():
                events.publish("test.dropped", {})
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        after = events.publish("test.after", {"n": 2})

    rows = list(InboxEvent.objects.order_by("pk").values_list("pk", "kind", "payload"))
    assert rows == [
        (kept["seq"], "test.kept", {"n": 1}),
        (kept["seq"] + 1, "test.after", {"n": 2}),
    ]
    assert after["seq"] == kept["seq"] + 1
    assert [event["type"] for event in pushed] == ["test.kept", "test.after"]


def test_a_publish_outside_any_transaction_commits_at_once(pushed):
    event = events.publish("test.alone", {"text": "it's 100% ok; COMMIT"})
    assert event["seq"] == InboxEvent.objects.get(kind="test.alone").pk
    assert InboxEvent.objects.get(pk=event["seq"]).payload == {"text": "it's 100% ok; COMMIT"}
    assert pushed == [event]
