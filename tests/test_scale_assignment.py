"""Auto-assignment in the production shape: two web and two worker processes on one
PostgreSQL and one Redis, fifty hand-overs racing the agents' status changes.

The checks read the inbox event feed, whose numbers follow commit order on PostgreSQL
(the publish holds the numbering lock until its transaction commits): replaying it
shows what every agent's status and load were at the moment of each assignment, so
"never to an away agent, never past capacity" is checked at every instant, not only at
the end.
"""

import contextlib
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model

from handoff.live.events import as_sent
from handoff.models import Conversation, ConversationEvent, HandoffSettings, InboxEvent, TopicRoute
from handoff.services import seats
from tests.conftest import wait_until
from tests.support.agents import login, make_agent, open_inbox
from tests.support.factories import webhook_body
from tests.test_scale import cluster, production_engines  # noqa: F401 - fixtures

pytestmark = [pytest.mark.scale, pytest.mark.timeout(600)]

AGENTS = 6
CAPACITY = 4
HANDOVERS = 50

State = Conversation.State


def status_toggler(session, url: str, stop: threading.Event, seed: int) -> int:
    """Switch between away and available at random moments until told to stop."""
    rng = random.Random(seed)
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{url}/"}
    changes = 0
    while not stop.is_set():
        for status in ("away", "available"):
            answer = session.post(
                f"{url}/api/me/status/", json={"status": status}, headers=headers, timeout=10
            )
            assert answer.status_code == 200, answer.text
            changes += 1
            stop.wait(rng.uniform(0.01, 0.1))
    return changes


def replay_feed() -> list[str]:
    """Walk the feed in commit order; every assignment that found its agent away,
    offline or full, or a load past capacity, is a problem."""
    problems = []
    status: dict[str, str] = {}
    load: dict[str, int] = {}
    for row in InboxEvent.objects.order_by("pk"):
        frame = as_sent(row)
        if frame["type"] == "presence":
            status[frame["agent"]] = frame["status"]
            load[frame["agent"]] = frame["open_count"]
            if frame["open_count"] > frame["capacity"]:
                problems.append(f"{frame['agent']} over capacity at seq {frame['seq']}")
        elif (
            frame["type"] == "conversation.updated"
            and (frame.get("event") or {}).get("kind") == "assigned"
        ):
            to = frame["event"]["data"]["to"]
            if status.get(to) != "available":
                problems.append(f"seq {frame['seq']}: assigned to {to} while {status.get(to)}")
            if load.get(to, 0) >= CAPACITY:
                problems.append(f"seq {frame['seq']}: assigned to {to} holding {load[to]}")
    return problems


def test_fifty_hand_overs_racing_status_changes_never_double_assign_overfill_or_reach_an_away_agent(
    cluster,  # noqa: F811 - the fixture imported above
    report,
):
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    TopicRoute.objects.create(
        topic="desk", destination=TopicRoute.Destination.AGENTS, is_default=True
    )
    names = [f"agent{n}" for n in range(AGENTS)]
    for name in names:
        make_agent(name)
        user = get_user_model().objects.get(username=name)
        seats.set_capacity(agent_id=user.pk, capacity=CAPACITY)
    web = cluster.web
    sessions = {name: login(web[n % 2].url, name) for n, name in enumerate(names)}
    stop = threading.Event()

    with contextlib.ExitStack() as stack:
        for n, name in enumerate(names):
            socket = stack.enter_context(open_inbox(web[n % 2].url, sessions[name]))
            assert json.loads(socket.recv(timeout=10))["type"] == "hello"
        with ThreadPoolExecutor(max_workers=AGENTS + 8) as pool:
            # Half the agents keep switching between away and available throughout.
            togglers = [
                pool.submit(status_toggler, sessions[name], web[n % 2].url, stop, n)
                for n, name in enumerate(names[: AGENTS // 2])
            ]
            started = time.monotonic()
            posts = [
                pool.submit(web[n % 2].post_webhook, webhook_body(f"u-{n}", f"help {n}"))
                for n in range(HANDOVERS)
            ]
            assert all(p.result().status_code == 200 for p in posts)
            wait_until(
                lambda: (
                    Conversation.objects.filter(escalated_at__isnull=False).count() == HANDOVERS
                ),
                timeout=120,
            )
            time.sleep(2)  # status changes go on while the assigners work
            stop.set()
            toggled = sum(t.result() for t in togglers)

        # Everyone available at the end: the queue fills every seat, and no more.
        for name in names[: AGENTS // 2]:
            seats.set_status(agent=get_user_model().objects.get(username=name), status="available")
        wait_until(
            lambda: Conversation.objects.filter(state=State.ASSIGNED).count() == AGENTS * CAPACITY,
            timeout=120,
            message="every seat filled once everyone is available",
        )
        elapsed = time.monotonic() - started
        time.sleep(1)  # nothing more may be assigned

    assert replay_feed() == []
    assigned = Conversation.objects.filter(state=State.ASSIGNED)
    assert assigned.count() == AGENTS * CAPACITY
    assert Conversation.objects.filter(state=State.WAITING).count() == HANDOVERS - AGENTS * CAPACITY
    for name in names:
        assert assigned.filter(assignee__username=name).count() == CAPACITY, name
    # One assignment per conversation, to the owner it has (no second owner, ever).
    events = ConversationEvent.objects.filter(kind="assigned")
    assert events.count() == AGENTS * CAPACITY
    for event in events.select_related("conversation__assignee"):
        assert event.data["to"] == event.conversation.assignee.username
        assert event.data["open_count"] <= CAPACITY
    report(
        f"assignment race: {HANDOVERS} hand-overs, {toggled} status changes by "
        f"{AGENTS // 2} agents, {AGENTS * CAPACITY} assigned across 2 worker processes "
        f"in {elapsed:.1f} s; no double owner, none over capacity, none to an away agent"
    )
