"""Several processes on one PostgreSQL and one Redis: the production shape (docs/deploy.md).

Two web processes (daphne, no embedded workers) and two `run_workers` processes share
the test database and a Redis channel layer. `make test-scale` runs these against
throwaway servers; they fail, never skip, without them.
"""

import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection

from handoff.models import Message
from tests.conftest import ARTIFACTS, wait_until
from tests.devtools.bot_standin import BotStandin
from tests.devtools.braze_standin import BrazeStandin
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import webhook_body
from tests.support.metrics import moved, scrape, scrape_until
from tests.support.servers import BRAZE_API_KEY, AppServer, WorkerProcess, server_env

# Each test waits up to 180 s for its work (a thousand messages through four processes)
# and then stops the cluster; on a busy machine that outlasts the suite's 120 s default,
# which would cut a passing test off in the middle.
pytestmark = [pytest.mark.scale, pytest.mark.timeout(600)]

BOT_SECRET = "scale-bot-secret"
CUSTOMERS = 100
MESSAGES_EACH = 10


@pytest.fixture(autouse=True)
def production_engines():
    """These tests mean nothing on SQLite or the in-memory layer: refuse loudly."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.fail(
            "The multi-process tests need PostgreSQL and Redis (DATABASE_URL=postgres://... "
            "and REDIS_URL): run them with `make test-scale`.",
            pytrace=False,
        )


@dataclass
class Cluster:
    braze: BrazeStandin
    bot: BotStandin
    web: list[AppServer]
    workers: list[WorkerProcess]


@pytest.fixture
def cluster(request, transactional_db, agents_group, tmp_path):
    """Braze and bot stand-ins, web A and B, and two worker processes (settings
    overridden by an indirect parameter, when given), their metrics in one fresh
    multiprocess directory as docs/deploy.md recommends."""
    ARTIFACTS.mkdir(exist_ok=True)
    metrics_directory = tmp_path / "prometheus"
    metrics_directory.mkdir()
    overrides = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)}
    overrides.update(getattr(request, "param", {}))
    with BrazeStandin(api_key=BRAZE_API_KEY) as braze, BotStandin(BOT_SECRET) as bot:
        env = server_env(
            connection.settings_dict,
            braze.url,
            REDIS_URL=settings.REDIS_URL,
            HANDOFF_EMBEDDED_WORKERS="false",
            HANDOFF_BOT="http",
            HANDOFF_BOT_URL=bot.url,
            HANDOFF_BOT_SECRET=BOT_SECRET,
            **overrides,
        )
        web = [AppServer(env, ARTIFACTS / f"scale-web-{name}.log") for name in "AB"]
        workers = [WorkerProcess(env, ARTIFACTS / f"scale-worker-{n}.log") for n in (1, 2)]
        running = Cluster(braze=braze, bot=bot, web=web, workers=workers)
        try:
            for process in [*web, *workers]:
                process.start()
            yield running
        finally:
            for process in [*workers, *web]:
                process.stop()


def test_a_message_posted_to_web_a_reaches_an_agent_on_web_b_whose_reply_is_delivered(cluster):
    web_a, web_b = cluster.web
    make_agent("aiko")
    session = login(web_b.url, "aiko")
    with open_inbox(web_b.url, session) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"

        assert web_a.post_webhook(webhook_body("u-cross", "Where is my parcel?")).status_code == 200

        created = receive_until(
            socket,
            lambda e: e["type"] == "message.created" and e["message"]["direction"] == "in",
        )
        assert created["message"]["text"] == "Where is my parcel?"
        conversation_id = created["message"]["conversation_id"]
        # As the inbox page does on opening it: a reply's delivery state goes live only
        # to the sockets that have its conversation open.
        socket.send(json.dumps({"type": "viewing", "conversation_id": conversation_id}))

        reply = session.post(
            f"{web_b.url}/api/conversations/{conversation_id}/reply/",
            json={"text": "It left our warehouse this morning."},
            headers={"X-CSRFToken": session.cookies["csrftoken"]},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        # The worker process's "sent" reaches web B's socket through Redis.
        sent = receive_until(
            socket,
            lambda e: (
                e["type"] == "message.delivery"
                and e["message_id"] == reply.json()["message"]["id"]
                and e["delivery"]["state"] == "sent"
            ),
            timeout=10,
        )
        assert sent["delivery"]["dispatch_id"]

    texts = [m["trigger_properties"] for m in cluster.braze.sent_messages()]
    assert {"external_system_msg_body": "It left our warehouse this morning."} in texts


def test_the_worker_processes_sends_and_bot_answers_show_on_a_web_processes_metrics(cluster):
    """Multiprocess mode: the worker processes serve no HTTP, and web B's /metrics sums
    what web A stored and what the workers asked the bot and sent to Braze."""
    web_a, web_b = cluster.web
    before = scrape(web_b.url)

    assert web_a.post_webhook(webhook_body("u-scrape", "Where is my parcel?")).status_code == 200
    cluster.braze.wait_for(lambda messages: len(messages) >= 1, timeout=30)

    sent = len(cluster.braze.sent_messages())
    after = scrape_until(
        web_b.url, before, "handoff_braze_requests_total", sent, endpoint="messages", outcome="sent"
    )
    assert moved(before, after, "handoff_webhook_requests_total", code="200") == 1
    assert moved(before, after, "handoff_bot_seconds_count", bot="http") == 1
    assert moved(before, after, "handoff_routing_delay_seconds_count") == 1
    assert moved(before, after, "handoff_braze_request_seconds_count", endpoint="messages") == sent
    # The queues are read from the shared database, the same from either web process.
    assert scrape(web_a.url)["handoff_routing_queue_messages", ()] == 0


@pytest.mark.parametrize("cluster", [{"HANDOFF_POLL_SECONDS": "60"}], indirect=True)
def test_a_message_stored_by_a_web_process_wakes_the_worker_processes_at_once(cluster, report):
    """With a 60 s poll, only the database's NOTIFY at commit can make a bot reply
    leave within seconds: the web process's own wake-up reaches its threads only."""
    cluster.braze.set_behaviour("ok")
    time.sleep(1)  # let every worker thread find nothing and go to sleep
    latencies = []
    for n in range(5):
        started = time.monotonic()
        body = webhook_body(f"u-wake-{n}", f"ping {n}")
        assert cluster.web[n % 2].post_webhook(body).status_code == 200
        cluster.braze.wait_for(lambda sent, n=n: len(sent) == n + 1, timeout=10)
        latencies.append(time.monotonic() - started)
        time.sleep(0.3)
    report(
        "scale: webhook on one process to the bot's reply at Braze from another, poll 60 s: "
        + ", ".join(f"{seconds * 1000:.0f} ms" for seconds in latencies)
    )


def post_conversations(web: list[AppServer]) -> float:
    """Every customer's messages in order (alternating web A and B), customers in
    parallel; returns the seconds it took."""

    def customer(n: int) -> None:
        for k in range(MESSAGES_EACH):
            body = webhook_body(f"c{n:03d}", f"c{n:03d} m{k}", message_id=f"dispatch-{n}-{k}")
            response = web[(n + k) % len(web)].post_webhook(body)
            assert response.status_code == 200, response.text

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(customer, range(CUSTOMERS)))
    return time.monotonic() - started


def accepted_replies(braze: BrazeStandin) -> dict[str, list[str]]:
    """Per customer, the texts Braze accepted, in the order it accepted them."""
    replies = defaultdict(list)
    for message in braze.sent_messages():
        replies[message["external_user_id"]].append(
            message["trigger_properties"]["external_system_msg_body"]
        )
    return replies


def expected_replies(n: int) -> list[str]:
    return [f"echo: c{n:03d} m{k}" for k in range(MESSAGES_EACH)]


def all_replies_recorded_sent() -> bool:
    sent = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, delivery_state=Message.Delivery.SENT
    ).count()
    return sent == CUSTOMERS * MESSAGES_EACH


def failure_share(braze: BrazeStandin) -> float:
    calls = braze.requests("/campaigns/trigger/send")
    return sum(1 for call in calls if call["status"] >= 500) / len(calls)


def test_a_thousand_messages_with_braze_failing_a_third_are_each_delivered_once_in_order(
    cluster, report
):
    cluster.braze.set_behaviour("fail_ratio", ratio=1 / 3, seed=7)

    seconds = post_conversations(cluster.web)
    wait_until(
        all_replies_recorded_sent,
        timeout=180,
        interval=0.5,
        message="not every reply was delivered",
    )

    replies = accepted_replies(cluster.braze)
    assert {n: replies[f"c{n:03d}"] for n in range(CUSTOMERS)} == {
        n: expected_replies(n) for n in range(CUSTOMERS)
    }
    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 1000
    share = failure_share(cluster.braze)
    assert 0.25 < share < 0.42, f"the stand-in failed {share:.0%} of sends, not about a third"
    report(
        f"scale: 1,000 webhooks over two web processes in {seconds:.1f} s; Braze failed "
        f"{share:.0%} of {len(cluster.braze.requests('/campaigns/trigger/send'))} sends; "
        "every reply delivered once, in order"
    )


def collapse_repeats(texts: list[str]) -> tuple[list[str], list[str]]:
    """The texts with back-to-back repeats removed, and the repeats."""
    kept: list[str] = []
    repeats: list[str] = []
    for text in texts:
        if kept and kept[-1] == text:
            repeats.append(text)
        else:
            kept.append(text)
    return kept, repeats


def acceptance_times(braze: BrazeStandin) -> dict[str, list[float]]:
    """When (the stand-in's monotonic clock, the same as ours) Braze accepted each text."""
    times = defaultdict(list)
    for call in braze.requests("/campaigns/trigger/send"):
        if 200 <= call["status"] < 300:
            shared = call["body"].get("trigger_properties", {})
            for recipient in call["body"]["recipients"]:
                properties = {**shared, **recipient.get("trigger_properties", {})}
                times[properties["external_system_msg_body"]].append(call["monotonic"])
    return times


def test_a_worker_killed_midway_loses_nothing_and_repeats_only_what_braze_had_accepted(
    cluster, report
):
    cluster.braze.set_behaviour("fail_ratio", ratio=1 / 3, seed=11)
    killed_at: list[float] = []

    def kill_when_a_third_is_out() -> None:
        wait_until(lambda: len(cluster.braze.sent_messages()) >= 300, timeout=120, interval=0.02)
        cluster.workers[0].kill()
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_when_a_third_is_out, daemon=True)
    killer.start()
    post_conversations(cluster.web)
    killer.join(130)
    assert killed_at, "the worker was never killed"

    wait_until(
        all_replies_recorded_sent,
        timeout=180,
        interval=0.5,
        message="a reply was lost with the killed worker",
    )

    replies = accepted_replies(cluster.braze)
    repeated: list[str] = []
    for n in range(CUSTOMERS):
        kept, repeats = collapse_repeats(replies[f"c{n:03d}"])
        assert kept == expected_replies(n), f"customer c{n:03d}"
        repeated += repeats
    # A repeat is a send Braze accepted before the kill that the dead worker never
    # recorded: at most one per delivery thread, sent again once its lease lapsed.
    assert len(repeated) <= settings.HANDOFF_DELIVERY_THREADS
    times = acceptance_times(cluster.braze)
    for text in repeated:
        first, again = times[text][0], times[text][1]
        assert first <= killed_at[0] < again, f"{text!r} repeated without a kill between"
    report(
        f"scale: a worker SIGKILLed after 300 accepted sends: nothing lost; "
        f"{len(repeated)} reply(ies) sent twice, each accepted by Braze before the kill "
        f"and not yet recorded: {repeated}"
    )
