"""The live inbox under more hand-overs than the server can take at once (issue 18):
latency may grow, but every socket is sent exactly the events it is entitled to, each
once and in number order, and the server catches up with the burst (the bench,
`python -m tests.devtools.bench_live`, measures how fast; this checks only what must
hold however slow the machine)."""

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed

from handoff.live.events import as_sent
from handoff.models import EscalationRule, InboxEvent
from handoff.rules.event_audience import reaches, transcript_audience
from tests.support.agents import login, make_agent, open_inbox
from tests.support.factories import make_conversation, webhook_body

pytestmark = pytest.mark.server

AGENTS = 8
BURST = 150  # hand-overs posted at once by POSTERS clients, far faster than they are routed
POSTERS = 16
READ_SECONDS = 240.0  # a bound, not the expectation


class Reader(threading.Thread):
    """One agent's socket, read to the end: every numbered event, packed or not."""

    def __init__(self, socket, name: str) -> None:
        super().__init__(name=f"reader-{name}", daemon=True)
        self.socket = socket
        self.seqs: list[int] = []
        self.texts: list[str] = []
        self.delivered_in: set[int] = set()  # conversations with a message.delivery sent
        self.others: list[dict] = []  # frames without a number that are not notices
        self.viewing_seen = threading.Event()  # another agent's `viewing` notice came
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                raw = self.socket.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed:
                self.others.append({"type": "closed by the server"})
                return
            data = json.loads(raw)
            for frame in data if isinstance(data, list) else [data]:
                if "seq" in frame and frame["type"] not in ("hello", "caught_up", "resync"):
                    self.seqs.append(frame["seq"])
                    if frame["type"] == "message.created":
                        self.texts.append(frame["message"]["text"])
                    elif frame["type"] == "message.delivery":
                        self.delivered_in.add(frame["conversation_id"])
                elif frame["type"] == "activity":
                    if frame["activity"] == "viewing":
                        self.viewing_seen.set()
                elif frame["type"] != "pong":
                    self.others.append(frame)


def test_a_burst_beyond_what_the_server_takes_reaches_every_socket_whole_and_in_order(
    live, agents_group
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    watched = make_conversation(external_id="burst-0")
    names = [f"agent{n}" for n in range(AGENTS)]
    for name in names:
        make_agent(name)
    with contextlib.ExitStack() as opened:
        sockets, starts = {}, {}
        for index, name in enumerate(names):
            inbox = open_inbox(live.url, login(live.url, name), pack=index % 2 or None)
            socket = opened.enter_context(inbox)
            starts[name] = json.loads(socket.recv(timeout=10))["seq"]
            sockets[name] = socket
        readers = burst_through(live, sockets, names, watched.pk)
    check_what_each_socket_was_sent(readers, starts, names, watched.pk)


def burst_through(live, sockets: dict, names: list[str], watched: int) -> dict[str, Reader]:
    """Post the burst, then the last message; read every socket until each has that."""
    readers = {name: Reader(socket, name) for name, socket in sockets.items()}
    for reader in readers.values():
        reader.start()
    # One agent has a conversation of the burst open: its transcript's events too. The
    # others are told once the server has it.
    viewer = names[0]
    sockets[viewer].send(json.dumps({"type": "viewing", "conversation_id": watched}))
    assert readers[names[1]].viewing_seen.wait(30)

    def post(number: int) -> int:
        body = webhook_body(f"burst-{number}", f"burst {number}: I need an agent")
        return live.post_webhook(body).status_code

    with ThreadPoolExecutor(max_workers=POSTERS) as pool:
        statuses = list(pool.map(post, range(BURST)))
    assert set(statuses) == {200}, statuses
    # After the burst: the server caught up once this last one reaches every socket.
    assert live.post_webhook(webhook_body("after", "the last one, an agent please")).ok
    deadline = threading.Event()
    timer = threading.Timer(READ_SECONDS, deadline.set)
    timer.start()
    try:
        # And until the viewer has the open conversation's notice delivered: routing
        # may hand it over after the last message arrived.
        while not deadline.is_set() and not (
            all("the last one, an agent please" in reader.texts for reader in readers.values())
            and watched in readers[viewer].delivered_in
        ):
            deadline.wait(0.2)
    finally:
        timer.cancel()
        for reader in readers.values():
            reader.stop.set()
            reader.join(5)
    return readers


def check_what_each_socket_was_sent(readers, starts, names, watched: int) -> None:
    viewer = names[0]
    # Up to the last message: in number order, everything before it came first.
    feed = [as_sent(row) for row in InboxEvent.objects.order_by("pk")]
    (last,) = [
        event["seq"]
        for event in feed
        if event["type"] == "message.created"
        and event["message"]["text"] == "the last one, an agent please"
    ]
    for name, reader in readers.items():
        viewing = watched if name == viewer else None
        entitled = [
            event["seq"]
            for event in feed
            if starts[name] < event["seq"] <= last
            and reaches(transcript_audience(event), viewing=viewing, username=name)
        ]
        received = [seq for seq in reader.seqs if seq <= last]
        assert received == entitled, f"{name}: out of order, missing or repeated"
        assert reader.others == [], f"{name} was sent {reader.others[:3]}"
        assert "the last one, an agent please" in reader.texts
    burst_messages = {f"burst {n}: I need an agent" for n in range(BURST)}
    assert burst_messages <= set(readers[names[-1]].texts)
    # The viewer was sent the open conversation's own events (all of them up to the
    # last number it was sent: in order, nothing before that is missing); another
    # agent was sent none.
    transcript_only = {
        event["seq"]
        for event in feed
        if starts[viewer] < event["seq"] <= max(readers[viewer].seqs)
        and transcript_audience(event) is not None
        and transcript_audience(event).conversation_id == watched
    }
    assert transcript_only and transcript_only <= set(readers[viewer].seqs)
    assert not transcript_only & set(readers[names[2]].seqs)
