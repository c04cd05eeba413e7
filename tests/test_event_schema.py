"""Every frame the inbox socket sends has the shape docs/websocket.md shows, so the
document cannot drift from the server (Zulip keeps such a test for its events).

The shapes are read from the document's tagged examples (tests/support/frame_shapes.py).
The server is the real one: daphne on loopback, driven over HTTP and real websockets
through a day that makes every documented frame happen; every frame it sends, live, on
a catch-up and over `GET /api/events/`, must match its shape exactly (no undocumented
key, no documented one missing, the same JSON types all the way down), and every
documented frame must have been sent. The package's own source is read too: every kind
it can publish or send must be documented.
"""

import ast
import json
import re
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from handoff.models import (
    BrazeCampaign,
    Contact,
    Conversation,
    EscalationRule,
    FaqEntry,
    HandoffSettings,
    SlaPolicy,
    TopicRoute,
)
from handoff.services.erasure import prune_retention
from handoff.services.topics import SPECIFIC_TOPICS_TTL_SECONDS
from tests.conftest import wait_until
from tests.support.agents import login, make_agent, open_inbox
from tests.support.factories import make_conversation, webhook_body
from tests.support.frame_shapes import (
    DOC,
    DocumentError,
    documented_frames,
    frame_mismatches,
    mismatches,
    parse_example,
)

PACKAGE = Path(__file__).resolve().parents[1] / "handoff"
TIMEOUT = 60.0  # a wait that ends as soon as the frame comes, never a bound


# --- The document ----------------------------------------------------------------------


def test_the_document_shows_one_shape_for_each_frame_its_tables_name():
    text = DOC.read_text()
    server_to_client = text.split("## Server to client", 1)[1].split("## Client to server", 1)[0]
    events_table, rest = server_to_client.split("**Notices**", 1)
    notices_table, control = rest.split("**Control frames**", 1)
    row = re.compile(r"^\| `([\w.]+)` \|", re.MULTILINE)
    control_frames = set(re.findall(r"`([a-z_]+)`", control.split("\n\n", 1)[0]))

    frames = documented_frames()

    assert {kind for kind, frame in frames.items() if frame.numbered} == set(
        row.findall(events_table)
    )
    assert {kind for kind, frame in frames.items() if not frame.numbered} == set(
        row.findall(notices_table)
    ) | control_frames


def test_the_checker_accepts_a_frame_as_documented_and_names_each_difference():
    shape = parse_example(
        """{
          "type": "thing", "seq": 1,
          "owner": "aiko",                  // or null: nobody
          "state": "open",                  // one of: open | closed | ""
          "pending": true,                  // optional
          "data": {"a": 1},                 // any keys
          "ids": [1, 2],
          "inner": {"url": "https://example.com/x"}
        }"""
    )
    good = {"type": "thing", "seq": 7, "owner": None, "state": "", "data": {"b": [1]}, "ids": []}
    good["inner"] = {"url": "http://a"}
    assert mismatches(good, shape) == []

    bad = {**good, "extra": 1, "state": "gone", "ids": [1, "2"], "inner": {"url": None}}
    del bad["seq"]
    assert sorted(mismatches(bad, shape)) == [
        ".extra: not documented",
        ".ids[1]: string '2', documented as integer",
        ".inner.url: null, documented as string",
        ".seq: documented, but missing",
        ".state: 'gone' is not one of 'open' | 'closed' | ''",
    ]
    assert mismatches({**good, "seq": True}, shape) == [".seq: boolean True, documented as integer"]


@pytest.mark.parametrize(
    ("example", "complaint"),
    [
        ('{"type": "x", "owner": null}', "a null example"),
        ('{"type": "x", "ids": []}', "an empty list"),
        ('{"type": "x",\n  // or null\n "a": 1}', "a marker with no key"),
        ('{"type": "x", "a": 1,}', "not JSON"),
    ],
)
def test_an_example_that_says_no_type_is_refused(example, complaint):
    with pytest.raises(DocumentError, match=complaint):
        parse_example(example)


def test_a_type_shown_twice_or_an_example_without_a_type_is_refused():
    twice = (
        '```json frame=pong\n{"type": "pong"}\n```\n\n```json frame=pong\n{"type": "pong"}\n```\n'
    )
    with pytest.raises(DocumentError, match="shown twice"):
        documented_frames(twice)
    with pytest.raises(DocumentError, match="'type'"):
        documented_frames('```json frame=pong\n{"kind": "pong"}\n```\n')


# --- The package's source: whatever it can publish or send is documented -------------------


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """The module's NAME = "text" constants."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def sent_kinds(tree: ast.AST, constants: dict[str, str], name: str) -> list[tuple[str, str, str]]:
    """(how, kind, where) for every frame kind this code publishes or sends: `publish`
    (a numbered event), `publish_ephemeral` (a notice), `send_json` of a literal frame,
    or a socket's `_notice` (one sent in turn with its events)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        how, first, where = _called(node), node.args[0], f"{name}:{node.lineno}"
        if how in ("publish", "publish_ephemeral"):
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((how, first.value, where))
            elif isinstance(first, ast.Name) and first.id in constants:
                found.append((how, constants[first.id], where))
            else:
                found.append((how, f"<not a literal: {ast.unparse(first)}>", where))
        elif how in ("send_json", "_notice") and isinstance(first, ast.Dict):
            for key, value in zip(first.keys, first.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "type":
                    found.append((how, getattr(value, "value", ast.unparse(value)), where))
    return found


def module_sent_kinds(path: Path) -> list[tuple[str, str, str]]:
    tree = ast.parse(path.read_text())
    return sent_kinds(tree, _module_strings(tree), str(path.relative_to(PACKAGE.parent)))


def test_every_kind_the_package_publishes_or_sends_has_a_documented_shape():
    frames = documented_frames()
    sites = [
        site
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
        for site in module_sent_kinds(path)
    ]

    undocumented = [
        f"{where}: {how}({kind!r})"
        for how, kind, where in sites
        if kind not in frames or frames[kind].numbered != (how == "publish")
    ]

    assert undocumented == []
    # And the other way: each documented frame has a place in the code that sends it.
    assert {kind for _, kind, _ in sites} == set(frames)


def test_every_builder_in_live_events_publishes_one_documented_event():
    path = PACKAGE / "live" / "events.py"
    tree = ast.parse(path.read_text())
    builders = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name.startswith("publish_")
        and node.name != "publish_ephemeral"  # the notices' path, not a builder
    ]
    events = {kind for kind, frame in documented_frames().items() if frame.numbered}

    published = {
        builder.name: {
            kind
            for how, kind, _ in sent_kinds(builder, _module_strings(tree), path.name)
            if how == "publish"
        }
        for builder in builders
    }

    assert len(published) >= 5, "no builders found: the test looks in the wrong place"
    assert {name: kinds for name, kinds in published.items() if len(kinds) != 1} == {}
    assert {name: kinds for name, kinds in published.items() if not kinds <= events} == {}


# --- The running server ----------------------------------------------------------------------


class Recorder:
    """An inbox socket that keeps every frame it receives, in order.

    `until` takes the first frame not yet taken that matches, whether it came already
    or comes next: a change sends several frames whose order is not the point here.
    """

    def __init__(self, socket, frames: list[dict]):
        self.socket = socket
        self.frames = frames
        self.mine: list[dict] = []
        self.taken: set[int] = set()

    def until(self, predicate, timeout: float = TIMEOUT) -> dict:
        for index, frame in enumerate(self.mine):
            if index not in self.taken and predicate(frame):
                self.taken.add(index)
                return frame
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.socket.recv(timeout=remaining))
            except TimeoutError:
                break
            self.frames.append(frame)
            self.mine.append(frame)
            if predicate(frame):
                self.taken.add(len(self.mine) - 1)
                return frame
        untaken = [f.get("type") for i, f in enumerate(self.mine) if i not in self.taken]
        raise AssertionError(f"no matching frame within {timeout} s; not taken: {untaken}")

    def send(self, frame) -> None:
        self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))


def of(kind: str, **fields):
    """A predicate: a frame of this type whose fields (`a__b` for b inside a) have these values."""

    def matches(frame: dict) -> bool:
        if frame.get("type") != kind:
            return False
        for dotted, wanted in fields.items():
            value = frame
            for part in dotted.split("__"):
                value = value.get(part) if isinstance(value, dict) else None
            if value != wanted:
                return False
        return True

    return matches


def changed(event_kind: str | None, *, customer: str | None = None):
    """A predicate: conversation.updated whose audit event is of this kind (None: none),
    of the conversation of this customer (external id) if one is named."""
    return lambda f: (
        f.get("type") == "conversation.updated"
        and ((f["event"] or {}).get("kind") if event_kind else f["event"]) == event_kind
        and (customer is None or f["conversation"]["contact"]["external_id"] == customer)
    )


def agent_api(live, username: str) -> requests.Session:
    session = login(live.url, username)
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": live.url + "/"})
    return session


def post(session: requests.Session, live, path: str, body: dict | None = None) -> dict:
    response = session.post(f"{live.url}/api/{path}", json=body or {}, timeout=10)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


def the_world() -> None:
    """Rules, campaigns, a topic route and an FAQ answer through a retired campaign:
    enough for every transition the document lists to happen."""
    for name in ("aiko", "ben"):
        make_agent(name)
    # A supervisor's watching socket: it is sent every event, also those only an open
    # conversation's viewers get (rules/event_audience.py).
    watcher = get_user_model().objects.create_user("watcher", password="agent-password-1")
    watcher.user_permissions.add(Permission.objects.get(codename="supervise"))
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    survey = BrazeCampaign.objects.create(
        name="Satisfaction",
        key="survey",
        campaign_id="resp-survey",
        kind=BrazeCampaign.Kind.RESPONSE,
        is_survey=True,
        property_names="agent_name",
    )
    settings = HandoffSettings.load()
    settings.survey_campaign = survey
    settings.save()
    BrazeCampaign.objects.create(
        name="Order update",
        key="order-update",
        campaign_id="tmpl-order-update",
        kind=BrazeCampaign.Kind.TEMPLATE,
        property_names="order_number",
    )
    retired = BrazeCampaign.objects.create(
        name="Hours menu", key="hours-menu", campaign_id="resp-hours", is_active=False
    )
    FaqEntry.objects.create(
        questions="What are your opening hours?", answer="9 to 6 on weekdays.", campaign=retired
    )
    TopicRoute.objects.create(
        topic="billing",
        destination=TopicRoute.Destination.AGENTS,
        queue_label="Billing",
        trigger_words="invoice",
    )
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)  # the server re-reads its routes


@pytest.fixture
def forget_the_routes_afterwards():
    """Later tests must not meet this test's topic route in the server's cache."""
    yield
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)


def a_day_in_the_inbox(live, session_braze) -> tuple[list[dict], list[dict]]:
    """Drive the server through every documented frame; return every frame the sockets
    received and every event `GET /api/events/` gave."""
    the_world()
    frames: list[dict] = []
    aiko, ben = agent_api(live, "aiko"), agent_api(live, "ben")
    watcher_session = login(live.url, "watcher")

    with open_inbox(live.url, watcher_session) as w_socket:
        watcher = Recorder(w_socket, frames)
        hello = watcher.until(of("hello"))

        with open_inbox(live.url, ben, counts=1) as b_socket:
            ben_inbox = Recorder(b_socket, frames)
            ben_inbox.until(of("hello"))
            watcher.until(of("presence", agent="ben", online=True, status="available"))
            # Ben steps away; claims and releases move the agents' open counts.
            post(ben, live, "me/status/", {"status": "away"})
            watcher.until(of("presence", agent="ben", status="away"))

            # A customer asks for a person: opened, escalated, the hand-over notice sent.
            live.post_webhook(
                webhook_body(
                    "cust-1",
                    "I want to talk to an agent",
                    media_urls=["https://example.com/photo.jpg"],
                )
            )
            created = watcher.until(of("message.created", message__author_kind="customer"))
            first = created["message"]["conversation_id"]
            watcher.until(changed("opened"))
            watcher.until(changed("escalated"))
            watcher.until(of("message.delivery", delivery__state="sent"))

            # Ben looks and types; the others are told.
            ben_inbox.send({"type": "viewing", "conversation_id": first})
            watcher.until(of("activity", activity="viewing"))
            ben_inbox.send({"type": "typing", "conversation_id": first})
            watcher.until(of("activity", activity="typing"))

            # Claimed, transferred, released, claimed again.
            post(aiko, live, f"conversations/{first}/claim/")
            watcher.until(changed("claimed"))
            watcher.until(of("presence", agent="aiko", status="offline", open_count=1))
            post(aiko, live, f"conversations/{first}/transfer/", {"to": "ben"})
            watcher.until(changed("transferred"))
            post(ben, live, f"conversations/{first}/release/")
            watcher.until(changed("released"))
            post(aiko, live, f"conversations/{first}/claim/")
            watcher.until(changed("claimed"))

            # A private note mentioning Ben: every inbox gets it, Ben's names him.
            note = {"text": "@ben, can you check the payment? @nobody"}
            added = post(aiko, live, f"conversations/{first}/notes/", note)
            assert added["unresolved_mentions"] == ["nobody"]
            ben_inbox.until(of("note.created", note__mentions=["ben"]))
            watcher.until(of("note.created", note__id=added["note"]["id"]))

            # A message through the billing campaign files it: no audit event.
            live.post_webhook(webhook_body("cust-1", "it is about a payment", topic="billing"))
            watcher.until(changed(None))

            # Replies: sent, retried after a Braze error, failed, retried by hand.
            post(aiko, live, f"conversations/{first}/reply/", {"text": "Let me look."})
            watcher.until(of("message.delivery", delivery__state="sent"))
            session_braze.set_behaviour("error500", count=1)
            post(aiko, live, f"conversations/{first}/reply/", {"text": "One moment."})
            watcher.until(of("message.delivery", delivery__state="retrying"))
            watcher.until(of("message.delivery", delivery__state="sent"))
            session_braze.set_behaviour("unauthorized")
            failing = post(aiko, live, f"conversations/{first}/reply/", {"text": "Found it."})
            watcher.until(changed("delivery_failed"))
            session_braze.set_behaviour("ok")
            post(aiko, live, f"messages/{failing['message']['id']}/retry/")
            watcher.until(changed("delivery_retried"))
            watcher.until(of("message.delivery", message_id=failing["message"]["id"]))

            # Resolved with the survey; the customer scores; a template reopens it.
            post(aiko, live, f"conversations/{first}/resolve/")
            watcher.until(changed("resolved"))
            watcher.until(of("message.created", message__campaign__key="survey"))
            wait_until(
                lambda: Conversation.objects.filter(pk=first, survey_sent_at__isnull=False),
                timeout=TIMEOUT,
            )
            live.post_webhook(webhook_body("cust-1", "5"))
            watcher.until(changed("satisfaction"))
            post(
                aiko,
                live,
                f"conversations/{first}/send-campaign/",
                {"campaign": "order-update", "properties": {"order_number": "A-1001"}},
            )
            watcher.until(changed("reopened"))

            # The bot answers through a retired campaign (dropped, sent as text); taken over.
            live.post_webhook(webhook_body("cust-2", "what are your opening hours"))
            second = watcher.until(changed("opened"))["conversation"]["id"]
            watcher.until(changed("bot_reply_dropped"))
            post(aiko, live, f"conversations/{second}/take-over/")
            watcher.until(changed("taken_over"))

            # The same message through the catch-all and the billing campaign: merged.
            text = "my invoice is wrong"
            live.post_webhook(webhook_body("cust-3", text, message_id="dispatch-catch-all"))
            live.post_webhook(
                webhook_body("cust-3", text, message_id="dispatch-billing", topic="billing")
            )
            watcher.until(changed("duplicate_merged"))

            # Auto-assignment on, Ben available again: a waiting chat goes to an online agent.
            settings_row = HandoffSettings.load()
            settings_row.auto_assign = True
            settings_row.reply_timer_minutes = 5
            settings_row.sla_policy = SlaPolicy.objects.create(
                name="Standard", first_response_minutes=30
            )
            settings_row.save()
            post(ben, live, "me/status/", {"status": "available"})
            live.post_webhook(webhook_body("cust-5", "I want to talk to an agent"))
            # Its own assignment: one of the older waiting chats (cust-3's, handed over
            # before the policy, no SLA clock) may be assigned before it, or after.
            assigned = watcher.until(changed("assigned", customer="cust-5"))
            assert assigned["event"]["data"]["to"] in {"ben", "watcher"}
            assert assigned["conversation"]["reply_due_at"] is not None
            assert assigned["conversation"]["sla"]["kind"] == "first_response"
            # Five minutes without a reply (moved in the database): back to the queue.
            Conversation.objects.filter(pk=assigned["conversation"]["id"]).update(
                reply_due_at=timezone.now() - timedelta(seconds=1)
            )
            watcher.until(changed("returned"))
            # Thirty minutes without a first reply (moved in the database): breached.
            slow = Conversation.objects.get(pk=assigned["conversation"]["id"])
            past = timezone.now() - timedelta(seconds=1)
            Conversation.objects.filter(pk=slow.pk).update(
                sla_clocks={
                    kind: {**clock, "due_at": past.isoformat(), "at_risk_at": past.isoformat()}
                    for kind, clock in slow.sla_clocks.items()
                },
                sla_check_at=past,
            )
            breached = watcher.until(changed("sla_breached"))
            assert breached["conversation"]["sla"]["state"] == "breached"
            # Its customer wrote 23.5 hours ago (moved in the database): the window closes
            # within the hour unanswered, with no re-engagement campaign: agents alerted.
            Contact.objects.filter(pk=slow.contact_id).update(
                last_inbound_at=timezone.now() - timedelta(hours=23.5)
            )
            closing = watcher.until(changed("window_closing"))
            assert "campaign" not in closing["event"]["data"]

            # Auto-assignment off again: a customer handed over whose window closes in
            # five minutes (moved in the database) goes ahead of the older waiting ones.
            settings_row.auto_assign = False
            settings_row.save()
            live.post_webhook(webhook_body("cust-6", "I want to talk to an agent"))
            handed = watcher.until(changed("escalated", customer="cust-6"))["conversation"]
            Contact.objects.filter(pk=handed["contact_id"]).update(
                last_inbound_at=timezone.now() - timedelta(hours=23, minutes=55)
            )
            ahead = watcher.until(changed("prioritized"))
            assert ahead["conversation"]["serve_by"] == ahead["event"]["data"]["serve_by"]

            # Ben closes the conversation, then his inbox; a frame that is not allowed.
            ben_inbox.send({"type": "viewing", "conversation_id": None})
            watcher.until(of("activity", activity="left"))
        watcher.until(of("presence", agent="ben", online=False))
        watcher.send("not json")
        watcher.until(of("error"))
        watcher.send({"type": "ping"})
        watcher.until(of("pong"))

        # From a shell: Ben deactivated outside a transaction, a customer erased, an old
        # conversation past the retention. This process pushes to no socket: the next
        # live event makes the watcher's socket fetch them from the feed first.
        ben_user = get_user_model().objects.get(username="ben")
        ben_user.is_active = False
        ben_user.save()
        call_command("erase_contact", "cust-2", "--requested-by", "test", stdout=StringIO())
        make_conversation(
            external_id="cust-old",
            state=Conversation.State.RESOLVED,
            resolved_at=timezone.now() - timedelta(days=30),
        )
        assert prune_retention(days=1)["conversations"] == 1
        live.post_webhook(webhook_body("cust-4", "hello again"))
        watcher.until(of("message.created", message__text="hello again"))

    # Catching up: replayed from the watcher's hello, then a value that is not a number.
    with open_inbox(live.url, watcher_session, after=hello["seq"]) as socket:
        Recorder(socket, frames).until(of("caught_up"))
    with open_inbox(live.url, watcher_session, after="soon") as socket:
        Recorder(socket, frames).until(of("caught_up"))

    feed = aiko.get(f"{live.url}/api/events/?after=0", timeout=10).json()
    return frames, feed["events"]


def values_at(frames: list[dict], kind: str, dotted: str) -> list:
    """The values at this dotted path in every frame of this type."""
    values = []
    for frame in frames:
        if frame.get("type") == kind:
            value = frame
            for part in dotted.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            values.append(value)
    return values


# One long scenario (about 40 s on a quiet machine, several times that beside a CPU-heavy
# job): the suite's 120 s default would cut a passing run off.
@pytest.mark.timeout(600)
def test_every_frame_a_running_server_sends_is_documented_and_every_documented_one_is_sent(
    live, session_braze, agents_group, forget_the_routes_afterwards
):
    documented = documented_frames()

    frames, feed = a_day_in_the_inbox(live, session_braze)

    problems = sorted({p for frame in frames + feed for p in frame_mismatches(frame, documented)})
    assert not problems, "frames unlike docs/websocket.md's shapes:\n" + "\n".join(problems)
    assert {event["type"] for event in feed} <= {k for k, f in documented.items() if f.numbered}
    assert set(documented) - {frame["type"] for frame in frames} == set(), "never sent"
    # Every documented value of these was sent (each transition, each delivery state)...
    for kind, dotted in [
        ("conversation.updated", "event.kind"),
        ("message.delivery", "delivery.state"),
        ("conversation.erased", "reason"),
        ("activity", "activity"),
        ("presence", "status"),
    ]:
        shape = documented[kind].shape
        for part in dotted.split("."):
            shape = shape.keys[part]
        assert set(shape.one_of) - set(values_at(frames, kind, dotted)) == set(), dotted
    # ... and each of these variants.
    assert None in values_at(frames, "conversation.updated", "event")
    assert None in values_at(frames, "message.created", "message.campaign")
    assert True in values_at(frames, "access.changed", "pending")
