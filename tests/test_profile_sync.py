"""Profile enrichment: chat facts reach Braze profiles through /users/track, in batches,
in order, surviving Braze's failures, and visibly failing when Braze refuses them.

In-process tests drive the sender by hand against a fresh stand-in Braze; the
acceptance test runs 200 customers through the app under daphne.
"""

import math
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from handoff.braze.client import BrazeClient
from handoff.braze.rate_pause import RatePause
from handoff.models import Conversation, ProfileUpdate
from handoff.services import conversations, profile_sync
from handoff.services.profile_sync import braze_time, claim_batch, queue_attributes, sync_next
from handoff.workers.threads import Workers
from tests.conftest import wait_until
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.support.servers import BRAZE_API_KEY, ROOT

TRACK = "/users/track"
State = ProfileUpdate.State
REASON = "handoff_last_escalation_reason"
RESOLVED_AT = "handoff_last_resolved_at"
COUNT = "handoff_conversation_count"
SCORE = "handoff_last_satisfaction_score"


@pytest.fixture(autouse=True)
def no_gathering_and_no_pause(monkeypatch):
    """Requests back to back, and no 429 pause left over from another test in this process."""
    monkeypatch.setattr(profile_sync, "GATHER_SECONDS", 0)
    monkeypatch.setattr(profile_sync, "_rate_pause", RatePause())


@pytest.fixture
def client(braze):
    return BrazeClient(endpoint=braze.url, api_key=BRAZE_API_KEY)


@pytest.fixture
def agent(agents_group):
    make_agent("aiko")
    return get_user_model().objects.get(username="aiko")


def tracked_objects(braze) -> list[list[dict]]:
    return [r["body"]["attributes"] for r in braze.requests(TRACK)]


def queue(conversation: Conversation, **attributes) -> ProfileUpdate:
    return queue_attributes(contact_id=conversation.contact_id, attributes=attributes)


def states() -> list[str]:
    return list(ProfileUpdate.objects.order_by("id").values_list("state", flat=True))


# -- recording facts ---------------------------------------------------------------------


@pytest.mark.django_db
def test_escalation_and_resolution_queue_the_reason_the_time_and_the_count(agent):
    conversation = make_conversation(external_id="facts-1")
    Conversation.objects.create(
        contact=conversation.contact, state=Conversation.State.RESOLVED, resolved_at=timezone.now()
    )

    conversations.escalate(conversation_id=conversation.pk, kind="keyword", detail="refund")
    resolved = conversations.resolve(conversation_id=conversation.pk, agent=agent)

    escalated, closed = ProfileUpdate.objects.order_by("id")
    assert escalated.attributes == {REASON: "keyword:refund", COUNT: 2}
    assert closed.attributes == {RESOLVED_AT: braze_time(resolved.resolved_at), COUNT: 2}
    assert closed.attributes[RESOLVED_AT].endswith("Z")  # ISO 8601 UTC: a Braze time
    assert {escalated.state, closed.state} == {State.QUEUED}


@pytest.mark.django_db
def test_an_agent_taking_over_from_the_bot_is_recorded_as_an_escalation(agent):
    conversation = make_conversation(external_id="facts-2")

    conversations.take_over(conversation_id=conversation.pk, agent=agent)

    [update] = ProfileUpdate.objects.all()
    assert update.attributes == {REASON: "agent_takeover", COUNT: 1}


@pytest.mark.django_db
def test_the_fact_and_its_profile_update_commit_together_or_not_at_all():
    conversation = make_conversation(external_id="facts-3")

    with pytest.raises(RuntimeError), transaction.atomic():
        conversations.escalate(conversation_id=conversation.pk, kind="keyword", detail="x")
        assert ProfileUpdate.objects.exists()
        raise RuntimeError("the escalation's transaction rolls back")

    assert not ProfileUpdate.objects.exists()
    assert Conversation.objects.get().state == Conversation.State.BOT


@pytest.mark.django_db
def test_an_attribute_with_an_empty_name_is_not_recorded(settings, agent):
    settings.BRAZE_ATTRIBUTE_ESCALATION_REASON = ""
    settings.BRAZE_ATTRIBUTE_CONVERSATION_COUNT = "support_chats"
    conversation = make_conversation(external_id="facts-4")

    conversations.escalate(conversation_id=conversation.pk, kind="keyword", detail="refund")

    assert ProfileUpdate.objects.get().attributes == {"support_chats": 1}


@pytest.mark.django_db(transaction=True)
def test_with_profile_sync_off_nothing_is_queued_or_sent(settings, agent, braze, client):
    settings.BRAZE_PROFILE_SYNC = False
    conversation = make_conversation(external_id="off-1")

    conversations.escalate(conversation_id=conversation.pk, kind="keyword", detail="refund")
    conversations.resolve(conversation_id=conversation.pk, agent=agent)

    assert not ProfileUpdate.objects.exists()
    assert sync_next(client) is False
    assert braze.requests(TRACK) == []
    assert not [t for t in Workers().threads if t.name.startswith("profile")]


@pytest.mark.django_db(transaction=True)
def test_the_worker_set_has_one_profile_thread_when_sync_is_on(settings):
    settings.BRAZE_PROFILE_SYNC = True
    assert [t.name for t in Workers().threads if t.name.startswith("profile")] == ["profile-0"]


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("BRAZE_ATTRIBUTE_SATISFACTION", "$score", "reserves names starting with '$'"),
        ("BRAZE_ATTRIBUTE_RESOLVED_AT", "x" * 256, "over 255 characters"),
        ("BRAZE_ATTRIBUTE_SATISFACTION", "handoff_conversation_count", "overwrite"),
        ("BRAZE_ATTRIBUTE_ESCALATION_REASON", "external_id", "reads that key itself"),
        ("BRAZE_TRACK_BATCH_SIZE", "76", "between 1 and 75"),
    ],
)
def test_a_bad_attribute_setting_stops_the_start_with_a_clear_reason(variable, value, complaint):
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "handoff.settings"}
    env[variable] = value
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert complaint in started.stderr


# -- sending ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_customers_rows_go_as_one_object_with_the_latest_values(braze, client):
    ana, ben = make_conversation(external_id="ana"), make_conversation(external_id="ben")
    queue(ana, **{REASON: "keyword:refund", COUNT: 1})
    queue(ben, **{REASON: "bot_fallback"})
    queue(ana, **{REASON: "bot_handoff", RESOLVED_AT: "2026-01-02T03:04:05Z"})

    assert sync_next(client) is True

    [request] = braze.requests(TRACK)
    assert request["status"] == 201
    assert request["body"] == {
        "attributes": [
            {
                "external_id": "ana",
                "_update_existing_only": True,
                REASON: "bot_handoff",
                COUNT: 1,
                RESOLVED_AT: "2026-01-02T03:04:05Z",
            },
            {"external_id": "ben", "_update_existing_only": True, REASON: "bot_fallback"},
        ]
    }
    assert states() == [State.SENT] * 3
    assert sync_next(client) is False


@pytest.mark.django_db(transaction=True)
def test_batches_hold_at_most_the_configured_number_of_customers(settings, braze, client):
    settings.BRAZE_TRACK_BATCH_SIZE = 50  # the plans whose limit is 50
    for n in range(120):
        queue(make_conversation(external_id=f"batch-{n}"), **{COUNT: n})

    while sync_next(client):
        pass

    assert [len(objects) for objects in tracked_objects(braze)] == [50, 50, 20]
    assert set(states()) == {State.SENT}
    assert braze.profiles()["batch-119"] == {COUNT: 119}


@pytest.mark.django_db(transaction=True)
def test_a_newer_value_is_never_overwritten_by_an_older_one(settings, braze, client):
    settings.HANDOFF_RETRY_BASE_SECONDS = 1.0
    conversation = make_conversation(external_id="order-1")
    braze.set_behaviour("error500", count=1, path=TRACK)
    queue(conversation, **{REASON: "keyword:refund"})
    assert sync_next(client) is True  # Braze answers 500: the row waits to be retried
    assert states() == [State.RETRYING]

    queue(conversation, **{REASON: "bot_fallback"})  # a second escalation meanwhile
    assert sync_next(client) is False, "the newer row went out while the older one waited"

    wait_until(lambda: sync_next(client), timeout=5)
    assert [r["status"] for r in braze.requests(TRACK)] == [500, 201]
    [retry] = tracked_objects(braze)[1]
    assert retry[REASON] == "bot_fallback"
    assert braze.profiles()["order-1"] == {REASON: "bot_fallback"}
    assert states() == [State.SENT, State.SENT]


@pytest.mark.django_db(transaction=True)
def test_rows_of_a_customer_in_flight_hold_back_their_newer_rows():
    conversation = make_conversation(external_id="flight-1")
    other = make_conversation(external_id="flight-2")
    queue(conversation, **{COUNT: 1})
    [in_flight] = claim_batch(now=timezone.now(), size=75)
    queue(conversation, **{COUNT: 2})
    queue(other, **{COUNT: 7})

    claimed = claim_batch(now=timezone.now(), size=75)

    assert in_flight.contact_id == conversation.contact_id
    assert [row.contact_id for row in claimed] == [other.contact_id]


@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_pauses_profile_sync_until_brazes_reset(braze, client):
    braze.set_behaviour("rate_limit", count=1, reset_in=2, path=TRACK)
    queue(make_conversation(external_id="rl-1"), **{COUNT: 1})

    assert sync_next(client) is True
    row = ProfileUpdate.objects.get()
    assert row.state == State.RETRYING
    # The stand-in's reset is reset_in after the 429, rounded up to a whole second.
    reset = math.ceil(braze.requests(TRACK)[0]["at"] + 2)
    assert row.next_attempt_at.timestamp() >= reset
    queue(make_conversation(external_id="rl-2"), **{COUNT: 1})
    assert sync_next(client) is False, "sent during the pause"

    wait_until(lambda: sync_next(client), timeout=6)
    assert [r["status"] for r in braze.requests(TRACK)] == [429, 201]
    assert braze.requests(TRACK)[1]["at"] >= reset
    assert set(braze.profiles()) == {"rl-1", "rl-2"}


@pytest.mark.django_db(transaction=True)
def test_a_400_fails_the_rows_with_brazes_message_without_retrying(braze, client):
    braze.refuse_user("bad-1", "'external_id' is not valid")
    queue(make_conversation(external_id="bad-1"), **{COUNT: 1})

    assert sync_next(client) is True

    row = ProfileUpdate.objects.get()
    assert row.state == State.FAILED
    assert "Braze answered 400" in row.last_error
    assert "Valid data must be provided" in row.last_error
    assert "'external_id' is not valid" in row.last_error
    assert sync_next(client) is False
    assert len(braze.requests(TRACK)) == 1


@pytest.mark.django_db(transaction=True)
def test_an_object_braze_refuses_in_a_201_fails_alone(braze, client):
    braze.refuse_user("bad-2", "'external_id' is not valid")
    queue(make_conversation(external_id="good-1"), **{COUNT: 1})
    queue(make_conversation(external_id="bad-2"), **{COUNT: 1})

    assert sync_next(client) is True

    [request] = braze.requests(TRACK)
    assert request["status"] == 201
    good, bad = ProfileUpdate.objects.order_by("id")
    assert good.state == State.SENT and good.last_error == ""
    assert bad.state == State.FAILED
    assert bad.last_error == "Braze refused this profile: 'external_id' is not valid"
    assert set(braze.profiles()) == {"good-1"}


@pytest.mark.django_db(transaction=True)
def test_a_401_fails_and_unreachable_braze_retries(settings, braze, client):
    queue(make_conversation(external_id="auth-1"), **{COUNT: 1})
    braze.set_behaviour("unauthorized", count=1, path=TRACK)
    sync_next(client)
    assert ProfileUpdate.objects.get().state == State.FAILED
    assert "401" in ProfileUpdate.objects.get().last_error

    queue(make_conversation(external_id="down-1"), **{COUNT: 1})
    unreachable = BrazeClient(endpoint="http://127.0.0.1:9", api_key=BRAZE_API_KEY)
    assert sync_next(unreachable) is True
    row = ProfileUpdate.objects.get(contact__external_id="down-1")
    assert row.state == State.RETRYING
    assert "Could not reach Braze" in row.last_error


@pytest.mark.django_db(transaction=True)
def test_rows_give_up_after_the_delivery_window(settings, braze, client):
    settings.HANDOFF_DELIVERY_MAX_AGE = 60
    queue(make_conversation(external_id="old-1"), **{COUNT: 1})
    ProfileUpdate.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    braze.set_behaviour("error500", count=1, path=TRACK)

    sync_next(client)

    row = ProfileUpdate.objects.get()
    assert row.state == State.FAILED
    assert row.last_error.startswith("Gave up after 1 attempts")


@pytest.mark.django_db(transaction=True)
def test_an_unconfigured_braze_keeps_the_rows_for_later():
    queue(make_conversation(external_id="cfg-1"), **{COUNT: 1})

    sync_next(BrazeClient(endpoint="", api_key=""))

    row = ProfileUpdate.objects.get()
    assert row.state == State.RETRYING
    assert "BRAZE_REST_ENDPOINT" in row.last_error


# -- failures in admin -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_failed_rows_are_listed_in_admin_and_the_retry_action_queues_them(
    admin_client, braze, client
):
    braze.refuse_user("adm-1", "'external_id' is not valid")
    queue(make_conversation(external_id="adm-1"), **{REASON: "keyword:refund"})
    sync_next(client)
    row = ProfileUpdate.objects.get()

    page = admin_client.get("/admin/handoff/profileupdate/?state__exact=failed").content.decode()
    assert "adm-1" in page
    assert "Valid data must be provided" in page

    response = admin_client.post(
        "/admin/handoff/profileupdate/",
        {"action": "retry_profile_updates", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "1 profile update queued again." in response.content.decode()
    row.refresh_from_db()
    assert row.state == State.QUEUED

    braze.clear()  # Braze accepts the user now
    assert sync_next(client) is True
    assert braze.profiles()["adm-1"] == {REASON: "keyword:refund"}


@pytest.mark.django_db(transaction=True)
def test_a_retry_by_hand_never_puts_back_a_value_a_newer_update_replaced(braze, client):
    conversation = make_conversation(external_id="stale-1")
    braze.set_behaviour("unauthorized", count=1, path=TRACK)
    old = queue(conversation, **{REASON: "keyword:refund", COUNT: 1})
    sync_next(client)
    queue(conversation, **{REASON: "bot_fallback"})
    sync_next(client)

    assert profile_sync.retry_by_hand(update_id=old.pk) is True
    sync_next(client)

    assert braze.profiles()["stale-1"] == {REASON: "bot_fallback", COUNT: 1}
    assert tracked_objects(braze)[-1] == [
        {"external_id": "stale-1", "_update_existing_only": True, COUNT: 1}
    ]


# -- acceptance: 200 customers through the app under daphne ------------------------------------


@pytest.mark.server
def test_200_customers_escalated_and_resolved_reach_braze_in_batches_despite_a_500_and_a_429(
    live, session_braze, agents_group, report
):
    make_agent("ben")
    agent = get_user_model().objects.get(username="ben")
    session_braze.set_behaviour("error500", count=1, path=TRACK)
    started = time.monotonic()
    customers = []
    for n in range(200):
        conversation = make_conversation(external_id=f"p-{n:03d}")
        if n % 2 == 0:  # a returning customer: one earlier conversation
            Conversation.objects.create(
                contact=conversation.contact,
                state=Conversation.State.RESOLVED,
                created_at=timezone.now() - timedelta(days=30),
                resolved_at=timezone.now() - timedelta(days=30),
            )
        kind, detail = ("keyword", "refund") if n % 3 else ("bot_fallback", "")
        conversations.escalate(conversation_id=conversation.pk, kind=kind, detail=detail)
        customers.append(conversation)
    wait_until(
        lambda: any(r["status"] == 500 for r in session_braze.requests(TRACK)),
        timeout=20,
        message="the stand-in's 500 was never drawn",
    )
    session_braze.set_behaviour("rate_limit", count=1, reset_in=1, path=TRACK)
    expected = {}
    for n, conversation in enumerate(customers):
        resolved = conversations.resolve(conversation_id=conversation.pk, agent=agent)
        expected[f"p-{n:03d}"] = {
            REASON: "keyword:refund" if n % 3 else "bot_fallback",
            RESOLVED_AT: braze_time(resolved.resolved_at),
            COUNT: 2 if n % 2 == 0 else 1,
        }

    wait_until(
        lambda: ProfileUpdate.objects.filter(state=State.SENT).count() == 400,
        timeout=60,
        message=f"profile updates not all sent: {states().count(State.SENT)} of 400",
    )
    seconds = time.monotonic() - started

    requests = session_braze.requests(TRACK)
    statuses = [r["status"] for r in requests]
    assert statuses.count(500) == 1 and statuses.count(429) == 1, statuses
    sizes = [len(r["body"]["attributes"]) for r in requests]
    assert max(sizes) <= 75
    assert session_braze.profiles() == expected
    assert not ProfileUpdate.objects.exclude(state=State.SENT).exists()
    accepted = [size for size, status in zip(sizes, statuses, strict=True) if status == 201]
    report(
        f"profile sync: 200 customers escalated and resolved (400 facts) in {seconds:.1f} s; "
        f"{len(requests)} /users/track requests ({len(accepted)} accepted, one 500, one 429); "
        f"objects per request max {max(sizes)}, mean {sum(sizes) / len(sizes):.1f}"
    )


def test_sent_updates_are_pruned_after_a_week_and_failed_ones_kept(db):
    from handoff.services.profile_sync import prune_sent

    contact = make_conversation().contact
    now = timezone.now()
    old_sent, recent_sent, old_failed = (
        ProfileUpdate.objects.create(
            contact=contact, attributes={"a": 1}, state=state, sent_at=sent_at, created_at=at
        )
        for state, sent_at, at in [
            (ProfileUpdate.State.SENT, now - timedelta(days=8), now - timedelta(days=8)),
            (ProfileUpdate.State.SENT, now - timedelta(days=1), now - timedelta(days=1)),
            (ProfileUpdate.State.FAILED, None, now - timedelta(days=30)),
        ]
    )

    assert prune_sent(now, batch=1) == 1

    remaining = set(ProfileUpdate.objects.values_list("pk", flat=True))
    assert remaining == {recent_sent.pk, old_failed.pk}
    assert old_sent.pk not in remaining
