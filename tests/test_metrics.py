"""GET /metrics against the app under daphne: who may scrape, that the body is Prometheus's
text format (read with prometheus_client's own parser), that the counters move by what
the test made happen, that the queue gauges are the rows, and that processes sharing a
multiprocess directory are summed. Values are compared before and after, never as
absolute numbers (the session's server counts what earlier tests did too), and no
latency is asserted, only that it was observed.
"""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from handoff.models import (
    Conversation,
    FaqEntry,
    HandoffSettings,
    Message,
    ProfileUpdate,
    Team,
    TopicRoute,
)
from handoff.selectors.operations import Queue, operations
from handoff.services.outbound import queue_outbound
from handoff.web.metrics import worker_metrics_check
from tests.conftest import ARTIFACTS, empty_tables_beside_running_workers, wait_until
from tests.support.agents import login, make_agent, open_inbox
from tests.support.factories import make_conversation, webhook_body
from tests.support.metrics import moved, scrape, scrape_until, value
from tests.support.servers import METRICS_TOKEN, AppServer, server_env

# --- Who may scrape -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_web_processes(django_db_setup, django_db_blocker, session_braze, tmp_path_factory):
    """Two web processes without workers sharing one multiprocess directory, as on a
    host running several processes: `quiet` has metrics off, `scraped` has the token."""
    from django.db import connection

    directory = tmp_path_factory.mktemp("prometheus-multiproc")
    ARTIFACTS.mkdir(exist_ok=True)
    servers = {}
    for name, token in (("quiet", ""), ("scraped", METRICS_TOKEN)):
        env = server_env(
            connection.settings_dict,
            session_braze.url,
            HANDOFF_EMBEDDED_WORKERS="false",
            HANDOFF_METRICS_TOKEN=token,
            PROMETHEUS_MULTIPROC_DIR=str(directory),
        )
        log = ARTIFACTS / f"daphne-metrics-{name}.log"
        log.write_text("")
        servers[name] = AppServer(env, log)
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def pair(two_web_processes, transactional_db):
    yield two_web_processes
    empty_tables_beside_running_workers()


@pytest.mark.server
def test_metrics_are_off_and_not_found_without_a_token_setting(pair):
    response = requests.get(
        pair["quiet"].url + "/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    )

    assert response.status_code == 404


@pytest.mark.server
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-the-token", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"],
)
def test_a_scrape_without_the_token_is_refused_and_told_what_to_send(pair, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = requests.get(pair["scraped"].url + "/metrics", headers=headers, timeout=10)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "HANDOFF_METRICS_TOKEN" in response.json()["error"]
    assert METRICS_TOKEN not in response.text


# --- Several processes ----------------------------------------------------------------------


@pytest.mark.server
def test_what_one_process_counts_shows_on_another_process_scrape(pair, agents_group):
    quiet, scraped = pair["quiet"], pair["scraped"]
    before = scrape(scraped.url)

    assert quiet.post_webhook(webhook_body("u-multi", "hello")).status_code == 200

    after = scrape_until(scraped.url, before, "handoff_webhook_requests_total", 1, code="200")
    assert moved(before, after, "handoff_webhook_store_seconds_count") == 1
    customer = {"direction": "in", "author_kind": "customer"}
    assert moved(before, after, "handoff_messages_stored_total", **customer) == 1


@pytest.mark.server
def test_websockets_open_in_another_process_are_counted_while_open(pair, agents_group):
    quiet, scraped = pair["quiet"], pair["scraped"]
    make_agent("metrics-multi")
    start = value(scrape(scraped.url), "handoff_websocket_connections")

    with open_inbox(quiet.url, login(quiet.url, "metrics-multi")) as socket:
        socket.recv(timeout=10)  # hello: the socket is counted by now
        wait_until(
            lambda: value(scrape(scraped.url), "handoff_websocket_connections") == start + 1,
            message="the open socket was not counted",
        )

    wait_until(
        lambda: value(scrape(scraped.url), "handoff_websocket_connections") == start,
        message="the closed socket still counts",
    )


# --- What moves the counters ----------------------------------------------------------------


@pytest.mark.server
def test_a_webhook_and_an_agents_reply_move_the_counters_by_what_happened(
    live, session_braze, agents_group
):
    """The issue's acceptance: the scrape parses, and its counters move as a webhook is
    posted and a reply is sent. Here the hand-over is assigned automatically to the one
    agent online, who replies."""
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    TopicRoute.objects.create(
        topic="desk", destination=TopicRoute.Destination.AGENTS, is_default=True
    )
    make_agent("metrics-mia")
    session = login(live.url, "metrics-mia")
    before = scrape(live.url)

    with open_inbox(live.url, session) as socket:
        socket.recv(timeout=10)  # hello: Mia is online and available
        assert (
            value(scrape(live.url), "handoff_websocket_connections")
            == value(before, "handoff_websocket_connections") + 1
        )
        assert live.post_webhook(webhook_body("u-metrics", "my parcel is late")).status_code == 200
        conversation = wait_until(
            lambda: Conversation.objects.filter(
                contact__external_id="u-metrics", state=Conversation.State.ASSIGNED
            ).first(),
            timeout=30,
            message="the hand-over was not assigned to Mia",
        )
        answer = session.post(
            f"{live.url}/api/conversations/{conversation.pk}/reply/",
            json={"text": "It leaves today."},
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        wait_until(
            lambda: Message.objects.filter(
                conversation=conversation, author_kind="agent", delivery_state="sent"
            ).exists(),
            message="the agent's reply never reached Braze",
        )
        sent = Message.objects.filter(conversation=conversation, delivery_state="sent").count()
        assert len(session_braze.sent_messages()) == sent

        after = scrape_until(live.url, before, "handoff_delivery_delay_seconds_count", sent)

    assert moved(before, after, "handoff_webhook_requests_total", code="200") == 1
    assert moved(before, after, "handoff_webhook_store_seconds_count") == 1
    customer = {"direction": "in", "author_kind": "customer"}
    assert moved(before, after, "handoff_messages_stored_total", **customer) == 1
    agent = {"direction": "out", "author_kind": "agent"}
    assert moved(before, after, "handoff_messages_stored_total", **agent) == 1
    assert moved(before, after, "handoff_routing_delay_seconds_count") == 1
    assert moved(before, after, "handoff_assignment_latency_seconds_count") == 1
    messages_sent = {"endpoint": "messages", "outcome": "sent"}
    assert moved(before, after, "handoff_braze_requests_total", **messages_sent) == sent
    assert moved(before, after, "handoff_braze_request_seconds_count", endpoint="messages") == sent
    # The agent's socket closed with the block.
    wait_until(
        lambda: (
            value(scrape(live.url), "handoff_websocket_connections")
            == value(before, "handoff_websocket_connections")
        ),
        message="the closed socket still counts",
    )


@pytest.mark.server
def test_the_bots_answer_is_timed_and_counted_by_bot_and_outcome(live, session_braze):
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9 to 5.")
    before = scrape(live.url)

    live.post_webhook(webhook_body("u-metrics-faq", "what are your opening hours"))

    wait_until(lambda: session_braze.sent_messages(), message="the bot never answered")
    after = scrape_until(live.url, before, "handoff_routing_delay_seconds_count", 1)
    assert moved(before, after, "handoff_bot_seconds_count", bot="faq") == 1
    assert moved(before, after, "handoff_bot_answers_total", bot="faq", outcome="answered") == 1
    bot = {"direction": "out", "author_kind": "bot"}
    assert moved(before, after, "handoff_messages_stored_total", **bot) == 1


@pytest.mark.server
def test_a_braze_rate_limit_is_counted_with_the_pause_it_caused(live, session_braze):
    session_braze.set_behaviour("rate_limit", count=1, reset_in=1, path="/campaigns/trigger/send")
    conversation = make_conversation(external_id="u-metrics-429")
    before = scrape(live.url)

    message = queue_outbound(conversation=conversation, text="later", author_kind="agent")

    wait_until(
        lambda: Message.objects.get(pk=message.pk).delivery_state == "sent",
        timeout=20,
        message="the message was never sent after the pause",
    )
    after = scrape_until(live.url, before, "handoff_delivery_delay_seconds_count", 1)
    limited = {"endpoint": "messages", "outcome": "rate_limited"}
    assert moved(before, after, "handoff_braze_requests_total", **limited) == 1
    assert moved(before, after, "handoff_braze_rate_limit_pauses_total", endpoint="messages") == 1
    sent = {"endpoint": "messages", "outcome": "sent"}
    assert moved(before, after, "handoff_braze_requests_total", **sent) == 1


# --- Gauges read from the database ----------------------------------------------------------


def seed_queues(now):
    """Rows in every queue that no worker will take during the test: held by a lease or
    due in an hour, and no agent to assign the waiting conversations to."""
    later = now + timedelta(hours=1)
    billing, _ = Team.objects.get_or_create(name="Billing")
    Team.objects.get_or_create(name="Sales")
    conversation = make_conversation(external_id="u-gauges")
    for seconds in (120, 30):
        Message.objects.create(
            conversation=conversation,
            contact=conversation.contact,
            direction="in",
            author_kind="customer",
            text="held",
            routing_state=Message.Routing.PENDING,
            created_at=now - timedelta(seconds=seconds),
            claimed_until=later,
        )
    for state, seconds in (("queued", 300), ("queued", 60), ("retrying", 600)):
        Message.objects.create(
            conversation=conversation,
            contact=conversation.contact,
            direction="out",
            author_kind="agent",
            text="not due",
            delivery_state=state,
            queued_at=now - timedelta(seconds=seconds),
            next_attempt_at=later,
            created_at=now - timedelta(seconds=seconds),
        )
    for team, seconds in ((billing, 90), (billing, 30), (None, 45)):
        make_conversation(
            state=Conversation.State.WAITING,
            team=team,
            escalated_at=now - timedelta(seconds=seconds),
            waiting_since=now - timedelta(seconds=seconds),
        )
    ProfileUpdate.objects.create(
        contact=conversation.contact,
        attributes={"handoff_last_topic": "x"},
        next_attempt_at=later,
        created_at=now - timedelta(seconds=200),
    )


@pytest.mark.django_db
def test_the_operations_selector_reads_each_queue_and_its_oldest_item():
    now = timezone.now()
    seed_queues(now)

    ops = operations(now=now)

    assert ops.routing == Queue(items=2, oldest_age_seconds=120.0)
    assert ops.delivery == {
        "queued": Queue(items=2, oldest_age_seconds=300.0),
        "retrying": Queue(items=1, oldest_age_seconds=600.0),
    }
    assert ops.waiting == {
        "": Queue(items=1, oldest_age_seconds=45.0),
        "Billing": Queue(items=2, oldest_age_seconds=90.0),
        "Sales": Queue(items=0, oldest_age_seconds=0.0),
    }
    assert ops.profile_updates == Queue(items=1, oldest_age_seconds=200.0)


@pytest.mark.django_db
def test_empty_queues_read_as_zero_items_and_zero_age():
    ops = operations(now=timezone.now())

    assert ops.routing == Queue(0, 0.0)
    assert set(ops.delivery.values()) == {Queue(0, 0.0)}
    assert ops.waiting == {"": Queue(0, 0.0)}


@pytest.mark.server
def test_the_scraped_queue_gauges_are_the_rows_at_scrape_time(live):
    seeded_at = timezone.now()
    seed_queues(seeded_at)

    samples = scrape(live.url)

    assert value(samples, "handoff_routing_queue_messages") == 2
    assert value(samples, "handoff_delivery_queue_messages", state="queued") == 2
    assert value(samples, "handoff_delivery_queue_messages", state="retrying") == 1
    assert value(samples, "handoff_conversations_waiting", team="Billing") == 2
    assert value(samples, "handoff_conversations_waiting", team="") == 1
    assert value(samples, "handoff_conversations_waiting", team="Sales") == 0
    assert value(samples, "handoff_profile_queue_updates") == 1
    # Ages only grow after seeding: at least what was seeded, in the seeded order.
    ages = {
        "routing": value(samples, "handoff_routing_queue_oldest_age_seconds"),
        "queued": value(samples, "handoff_delivery_queue_oldest_age_seconds", state="queued"),
        "retrying": value(samples, "handoff_delivery_queue_oldest_age_seconds", state="retrying"),
        "Billing": value(samples, "handoff_conversations_oldest_wait_seconds", team="Billing"),
        "": value(samples, "handoff_conversations_oldest_wait_seconds", team=""),
    }
    assert ages["routing"] >= 120 and ages["queued"] >= 300 and ages["retrying"] >= 600
    assert ages["Billing"] >= 90 and ages[""] >= 45
    assert value(samples, "handoff_conversations_oldest_wait_seconds", team="Sales") == 0


# --- The deployment check -------------------------------------------------------------------


def test_workers_in_their_own_processes_without_a_shared_directory_are_warned_about(
    monkeypatch,
):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with override_settings(HANDOFF_METRICS_TOKEN="t", HANDOFF_EMBEDDED_WORKERS=False):
        assert [m.id for m in worker_metrics_check()] == ["handoff.W001"]
    with override_settings(HANDOFF_METRICS_TOKEN="t", HANDOFF_EMBEDDED_WORKERS=True):
        assert worker_metrics_check() == []
    with override_settings(HANDOFF_METRICS_TOKEN="", HANDOFF_EMBEDDED_WORKERS=False):
        assert worker_metrics_check() == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/run/handoff-metrics")
    with override_settings(HANDOFF_METRICS_TOKEN="t", HANDOFF_EMBEDDED_WORKERS=False):
        assert worker_metrics_check() == []


# --- The example dashboard ------------------------------------------------------------------

DASHBOARD = Path(__file__).resolve().parents[1] / "docs/grafana/handoff.json"


@pytest.mark.django_db
def test_the_example_dashboard_graphs_only_metrics_that_are_served():
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    graphed = {
        re.sub(r"_(bucket|total|count|sum)$", "", name)
        for query in queries
        for name in re.findall(r"\bhandoff_[a-z_]+", query)
    }
    with override_settings(HANDOFF_METRICS_TOKEN="t"):
        response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer t")
    served = {family.name for family in text_string_to_metric_families(response.content.decode())}

    assert graphed, "the dashboard has no handoff query"
    assert graphed <= served, f"graphed but not served: {sorted(graphed - served)}"
    ours = {name for name in served if name.startswith("handoff_")}
    # Histograms' `_created` series (when a process made them) are for ad-hoc queries.
    assert {name for name in ours if not name.endswith("_created")} <= graphed, "not graphed"
