"""`make bench`'s live phase (issue 18): how late each agent's inbox shows a customer's
message, with N agents' sockets open and messages that hand over at a fixed rate.

The app is restarted on the SQLite phase's database (the default configuration: one
daphne process, in-memory channel layer, workers inside) with every message routed
straight to the agents and auto-assignment off, so the waiting queue grows as it does
after a campaign when the team is small. N agents log in and each opens an inbox
socket, as a browser would: real websocket clients, spread over a few client
processes (`CLIENT_PROCESSES`) so that reading the frames does not become the
bottleneck on the bench's side, and asking for packed frames as the inbox does
(`?pack=1`: what piles up on the server comes as one JSON array) and the tabs' counts
(`?counts=1`: `counts` notices; with `--counts http`, as the inbox did before those,
each client asks `GET /api/counts/` after a `conversation.updated`, at most every
300 ms, on one kept-alive connection). Each client checks
its socket's sequence numbers (never going back: an event out of order is counted)
and stamps, on the machine's monotonic clock, the frame that brings each customer
message's `message.created`.

Customers write on an open-loop schedule (`tests.devtools.loadgen`), each message a
new customer's hand-over; message i is due at the run's start + i / rate, so its
latency on a socket is the frame's arrival minus that moment: the webhook's commit
(which publishes the message), the fan-out and the socket. The hand-over itself
comes after routing, in the `conversation.updated` that shows the customer waiting:
timed the same way, and reported beside. Reported per run: deliveries (messages x
sockets), p50 / p90 / p99 / max, how many arrived later than 1 s and 5 s, how many
never arrived within the drain (up to `DRAIN_SECONDS` after the last message, less
once every socket has them all and shows them all waiting; a customer shown waiting
on one socket and not another counts too), and the events out of order.

`--listing waiting` has the clients say their page shows the Waiting queue, as the
inbox opens: the customer's message, in the bot's row, is not sent to them (docs/
websocket.md, "Who is sent what"), and the time that counts is the customer shown
waiting. Without it they list everything, every row's events on every socket.

Run alone: `python -m tests.devtools.bench_live --agents 50 --rate 20 --seconds 30`.
The figures are measured, not asserted (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.devtools import bench_scale
from tests.devtools.bench_harness import (
    AGENT_PASSWORD,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    BenchError,
    Server,
    Stack,
    Subprocesses,
    cpu_seconds,
    nearest_rank,
    running_stack,
    server_env,
    set_up_desk,
    start_app,
)
from tests.devtools.loadgen import Target, run_open_loop
from tests.support.agents import login

CLIENT_PROCESSES = 2
COUNTS_EVERY_SECONDS = 0.3  # the inbox's throttle on asking for the counts
DRAIN_SECONDS = 15.0
LATE_MS = (1000.0, 5000.0)
MARK = "live-bench-"


# Read from each frame's text without parsing it all: at 200 sockets x 20 messages a
# second the clients would otherwise compete with the server for the CPU.
SEQ = re.compile(r'"seq":\s*(\d+)')
KIND = re.compile(r'"type":\s*"([^"]+)"')
# A bench customer's conversation as it starts waiting (the routing's hand-over).
WAITING = re.compile(
    r'"external_id":\s*"live-bench-customer-(\d+)".*?"state":\s*"waiting"', re.DOTALL
)
CUSTOMER_MESSAGE = re.compile(r'"type":\s*"message\.created".*' + MARK + r"(\d+)-", re.DOTALL)
AUTHOR_CUSTOMER = re.compile(r"\"author_kind\":\s*\"customer\"")


@dataclass
class LiveRun:
    agents: int
    rate: float
    seconds: float
    sent: int
    webhook_errors: int
    latencies_ms: list[float] = field(repr=False)
    # When each delivery's message was due, in seconds from the run's start.
    due_s: list[float] = field(repr=False)
    # Deliveries some socket showed that another never did: a customer's message, or
    # the customer shown waiting.
    missing: int
    never_shown: int  # messages (listing the Waiting queue, hand-overs) no socket showed
    out_of_order: int
    frames: int
    kinds: Counter[str] = field(repr=False)  # the frames by type
    sockets_open: int
    # The app process's CPU time from the first message to the end of the drain: per
    # delivery, a figure a busy neighbour changes far less than the latencies.
    app_cpu_seconds: float = math.nan
    layout: str = "SQLite, 1 web process"
    # From each message's due time to a socket showing its customer waiting (the
    # hand-over, after routing), for those shown within the drain.
    handover_ms: list[float] = field(repr=False, default_factory=list)
    counts: str = "socket"  # how the clients kept the tabs' counts: "socket" or "http"
    counts_requests: int = 0  # GET /api/counts/ over every client
    # The webhook's answer, from each message's due time: what of a message's lateness
    # is its storing (the commit publishes it) rather than the fan-out.
    webhook_ms: list[float] = field(repr=False, default_factory=list)
    # The list the clients said their page shows (`?listing=`): with "waiting", as the
    # inbox opens, the customer's message in the bot's row is not sent to them, and what
    # they are timed on is the customer shown waiting.
    listing: str = "all"

    percentile = staticmethod(nearest_rank)

    def p99_between(self, start_s: float, end_s: float) -> float:
        """p99 of the messages due in [start_s, end_s): a long run's first minute
        against its last shows whether it holds up as the queue grows."""
        return self.percentile(
            [
                ms
                for ms, due in zip(self.latencies_ms, self.due_s, strict=True)
                if start_s <= due < end_s
            ],
            0.99,
        )

    @property
    def minutes(self) -> tuple[float, float] | None:
        """p99 of the first and of the last minute, for runs of two minutes or more."""
        if self.seconds < 120:
            return None
        return self.p99_between(0, 60), self.p99_between(self.seconds - 60, self.seconds)

    def late(self, threshold_ms: float) -> int:
        return sum(latency > threshold_ms for latency in self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "agents": self.agents,
            "rate": self.rate,
            "seconds": self.seconds,
            "sent": self.sent,
            "webhook_errors": self.webhook_errors,
            "deliveries": len(self.latencies_ms),
            "p50_ms": self.percentile(self.latencies_ms, 0.5),
            "p90_ms": self.percentile(self.latencies_ms, 0.9),
            "p99_ms": self.percentile(self.latencies_ms, 0.99),
            "handover_p50_ms": self.percentile(self.handover_ms, 0.5),
            "handover_p99_ms": self.percentile(self.handover_ms, 0.99),
            "handovers_shown": len(self.handover_ms),
            "webhook_p50_ms": self.percentile(self.webhook_ms, 0.5),
            "webhook_p99_ms": self.percentile(self.webhook_ms, 0.99),
            "max_ms": max(self.latencies_ms, default=math.nan),
            **{f"late_over_{int(ms)}_ms": self.late(ms) for ms in LATE_MS},
            "missing": self.missing,
            "never_shown": self.never_shown,
            "out_of_order": self.out_of_order,
            "frames": self.frames,
            "sockets_open": self.sockets_open,
            "frames_per_message": self.frames_per_message,
            "p99_first_minute_ms": self.minutes[0] if self.minutes else None,
            "p99_last_minute_ms": self.minutes[1] if self.minutes else None,
            "app_cpu_ms_per_delivery": self.cpu_ms_per_delivery,
            "counts": self.counts,
            "counts_requests": self.counts_requests,
            "listing": self.listing,
        }

    @property
    def cpu_ms_per_delivery(self) -> float:
        """Per message shown on a socket (or, listing the Waiting queue, per customer
        shown waiting: the messages themselves are not sent)."""
        deliveries = len(self.latencies_ms) if self.listing == "all" else len(self.handover_ms)
        return self.app_cpu_seconds * 1000 / max(deliveries, 1)

    def line(self) -> str:
        s = self.summary()
        return (
            f"{self.layout}: {self.agents} agents, {self.rate:g} messages/s for "
            f"{self.seconds:g} s, listing {self.listing}: "
            f"message shown p50 {s['p50_ms']:.0f} ms, p90 {s['p90_ms']:.0f} ms, "
            f"p99 {s['p99_ms']:.0f} ms, "
            f"max {s['max_ms']:.0f} ms; "
            + (
                f"the webhook answered p50 {s['webhook_p50_ms']:.0f} ms, "
                f"p99 {s['webhook_p99_ms']:.0f} ms; "
                if self.webhook_ms
                else ""
            )
            + (
                f"p99 {self.minutes[0]:.0f} ms in the first minute, {self.minutes[1]:.0f} ms "
                "in the last; "
                if self.minutes
                else ""
            )
            + (
                f"the customer shown waiting (after routing) p50 {s['handover_p50_ms']:.0f} ms, "
                f"p99 {s['handover_p99_ms']:.0f} ms ({s['handovers_shown']} shown); "
                if self.handover_ms
                else ""
            )
            + f"later than 1 s {s['late_over_1000_ms']}, "
            f"than 5 s {s['late_over_5000_ms']} of {s['deliveries']} deliveries; "
            f"missing {self.missing}, never shown {self.never_shown} "
            f"(webhook errors {self.webhook_errors}); out of order {self.out_of_order}; "
            f"{self.sockets_open}/{self.agents} sockets open to the end; "
            f"{self.frames_per_message:.1f} frames per message on each socket, events "
            f"{self.kinds_per_message}; counts by {self.counts}"
            + (f" ({self.counts_requests} requests)" if self.counts == "http" else "")
            + "; "
            f"app CPU {self.cpu_ms_per_delivery:.3f} ms per delivery"
        )

    @property
    def kinds_per_message(self) -> str:
        per = max(self.sent * self.agents, 1)
        return ", ".join(f"{kind} {count / per:.1f}" for kind, count in self.kinds.most_common())

    @property
    def frames_per_message(self) -> float:
        """What one hand-over costs each socket: every event it brings, not only the
        customer's message."""
        return self.frames / max(self.sent * self.agents, 1)


def live_phase(
    children: Subprocesses,
    stack: Stack,
    *,
    agents: int,
    rate: float,
    seconds: float,
    first: int = 0,
    counts: str = "socket",
    listing: str = "all",
) -> LiveRun:
    """Restart the app on the stack's database with `agents` agents, open their
    sockets, send `rate * seconds` hand-overs, and time every delivery. Customers and
    agents are numbered from `first`, so that runs on one database do not meet."""
    workdir = Path(stack.database).parent
    children.stop(stack.app.process)
    env = server_env(f"sqlite:///{stack.database}", stack.standin.url)
    names = [f"live-agent-{first + n}" for n in range(agents)]
    set_up_desk(children, env, names=names, topic="bench-live", auto_assign=False)
    app = start_app(children, env, workdir, log_name="daphne-live.log")
    try:
        return _measure(
            [app],
            names,
            rate=rate,
            seconds=seconds,
            first=first,
            cpu_pids=[app.process.pid],
            counts=counts,
            listing=listing,
        )
    finally:
        children.stop(app.process)  # its workers would serve the next run's messages too


def live_phase_postgres(
    children: Subprocesses,
    *,
    agents: int,
    rate: float,
    seconds: float,
    counts: str = "socket",
    listing: str = "all",
) -> LiveRun:
    """As `live_phase`, on PostgreSQL and Redis with two web processes and the worker
    process (bench_scale's cluster): the agents' sockets alternate between the web
    processes, the webhook goes to the first. CPU per delivery counts both."""
    with (
        tempfile.TemporaryDirectory(prefix="handoff-bench-live-pg-") as folder,
        bench_scale.running_cluster(children, Path(folder)) as cluster,
    ):
        names = [f"live-agent-{n}" for n in range(agents)]
        set_up_desk(children, cluster.env, names=names, topic="bench-live", auto_assign=False)
        # Started again: the webhook caches the routes, and the desk changed them.
        web = bench_scale.restarted(children, cluster, Path(folder)).web
        run = _measure(
            list(web),
            names,
            rate=rate,
            seconds=seconds,
            first=0,
            cpu_pids=[server.process.pid for server in web],
            counts=counts,
            listing=listing,
        )
    return dataclasses.replace(run, layout=f"PostgreSQL and Redis, {len(web)} web processes")


def _measure(
    apps: Sequence[Server],
    names: Sequence[str],
    *,
    rate: float,
    seconds: float,
    first: int,
    cpu_pids: Sequence[int],
    counts: str = "socket",
    listing: str = "all",
) -> LiveRun:
    """Open the agents' sockets (agent i on apps[i % len(apps)]), post the hand-overs
    to apps[0] on an open-loop schedule, and time every delivery."""
    agents = len(names)
    places = []
    for index, name in enumerate(names):
        app = apps[index % len(apps)]
        session = login(app.url, name, AGENT_PASSWORD)
        places.append((app.url, "; ".join(f"{c.name}={c.value}" for c in session.cookies)))
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(CLIENT_PROCESSES + 1)
    stop = context.Event()
    results = context.Queue()
    shown = context.Value("q", 0)  # customer messages shown, over every socket
    handed = context.Value("q", 0)  # customers shown waiting, over every socket
    clients = [
        context.Process(
            target=_client_process,
            args=(
                places[index::CLIENT_PROCESSES],
                ready,
                stop,
                results,
                (shown, handed),
                counts,
                listing,
            ),
            daemon=True,
        )
        for index in range(CLIENT_PROCESSES)
    ]
    for client in clients:
        client.start()
    try:
        ready.wait(timeout=120)  # every socket has its hello
        print(f"  live: {agents} agents, {rate:g} hand-overs/s for {seconds:g} s ...", flush=True)
        target = Target(
            host="127.0.0.1",
            port=apps[0].port,
            path=WEBHOOK_PATH,
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
            body_for=lambda number: _body(first + number),
        )
        cpu_before = sum(cpu_seconds(pid) for pid in cpu_pids)
        run = asyncio.run(run_open_loop(target, rate=rate, seconds=seconds))
        expected = (run.scheduled - run.errors) * agents
        # Listing the Waiting queue, the customer's own message (in the bot's row) is
        # not sent: only the hand-over is waited for.
        expected_shown = expected if listing == "all" else 0
        deadline = time.monotonic() + DRAIN_SECONDS
        while (shown.value < expected_shown or handed.value < expected) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        app_cpu = sum(cpu_seconds(pid) for pid in cpu_pids) - cpu_before
        stop.set()
        reports = [results.get(timeout=120) for _ in clients]
    except Exception as error:
        raise BenchError(f"the live phase failed: {error!r}") from error
    finally:
        stop.set()
        for client in clients:
            client.join(10)
            if client.is_alive():
                client.kill()
    sockets = [socket for report in reports for socket in report]
    shown_anywhere = set().union(*(socket["arrivals"] for socket in sockets))
    waiting_anywhere = set().union(*(socket["handed_over"] for socket in sockets))
    latencies, due, missing = [], [], 0
    for socket in sockets:
        arrivals = socket["arrivals"]
        missing += len(shown_anywhere - arrivals.keys())
        missing += len(waiting_anywhere - socket["handed_over"].keys())
        for number, moment in arrivals.items():
            due.append((number - first) / rate)
            latencies.append((moment - run.started_at - due[-1]) * 1000)
    handovers = [
        (moment - run.started_at - (number - first) / rate) * 1000
        for socket in sockets
        for number, moment in socket["handed_over"].items()
    ]
    return LiveRun(
        agents=agents,
        rate=rate,
        seconds=seconds,
        sent=run.scheduled,
        webhook_errors=run.errors,
        latencies_ms=latencies,
        due_s=due,
        handover_ms=handovers,
        missing=missing,
        never_shown=run.scheduled - len(shown_anywhere if listing == "all" else waiting_anywhere),
        out_of_order=sum(socket["out_of_order"] for socket in sockets),
        frames=sum(socket["frames"] for socket in sockets),
        kinds=sum((socket["kinds"] for socket in sockets), Counter()),
        sockets_open=sum(socket["open_to_the_end"] for socket in sockets),
        app_cpu_seconds=app_cpu,
        counts=counts,
        counts_requests=sum(socket["counts_requests"] for socket in sockets),
        webhook_ms=list(run.latencies_ms),
        listing=listing,
    )


def customer_number(raw: str) -> int | None:
    """The bench's number of the customer message this frame shows, if it is one."""
    customer = CUSTOMER_MESSAGE.search(raw)
    if customer is None or not AUTHOR_CUSTOMER.search(raw):
        return None
    return int(customer.group(1))


def _body(number: int) -> bytes:
    return json.dumps(
        {
            "user_id": f"live-bench-customer-{number}",
            "phone_number": f"+8193{number:08d}",
            "message": f"{MARK}{number}- I need a person, please",
            "message_id": f"live-bench-{number}",
        },
        separators=(",", ":"),
    ).encode()


# -- the client processes ------------------------------------------------------------------


def _client_process(
    places: list[tuple[str, str]], ready, stop, results, counters, counts: str, listing: str
) -> None:
    results.put(asyncio.run(_clients(places, ready, stop, counters, counts, listing)))


async def _clients(
    places: list[tuple[str, str]], ready, stop, counters, counts: str, listing: str
) -> list[dict]:
    """Each (server URL, session cookie) an agent's socket, and with `counts` "http"
    its page's requests for the tabs' counts."""
    from websockets.asyncio.client import connect

    query = "?pack=1&counts=1" if counts == "socket" else "?pack=1"  # as the inbox asks
    query += f"&listing={listing}"
    sockets = []
    for url, cookie in places:
        state: dict[str, Any] = {"counts_requests": 0}
        if counts == "http":
            state["counts_due"] = asyncio.Event()
            state["poller"] = asyncio.create_task(_ask_counts(url, cookie, state))
        socket = await connect(
            url.replace("http://", "ws://") + "/ws/inbox/" + query,
            additional_headers={"Cookie": cookie},
            origin=url,
            open_timeout=60,
            max_size=None,
            max_queue=None,
        )
        hello = json.loads(await socket.recv())
        state["seq"] = hello.get("seq", 0)
        sockets.append((socket, state))
    await asyncio.get_running_loop().run_in_executor(None, ready.wait, 120)
    readers = [asyncio.create_task(_read(socket, state, *counters)) for socket, state in sockets]
    while not stop.is_set():
        await asyncio.sleep(0.2)
    for socket, state in sockets:
        await socket.close()
        if "poller" in state:
            state["poller"].cancel()
    return [
        {**await reader, "counts_requests": state["counts_requests"]}
        for reader, (_socket, state) in zip(readers, sockets, strict=True)
    ]


async def _ask_counts(url: str, cookie: str, state: dict) -> None:
    """As the inbox before `counts` notices: after a `conversation.updated`, ask for the
    counts, at most every COUNTS_EVERY_SECONDS (a browser does not wait for the answer
    before asking again; this client does, so it asks less often when the server is
    slow: a lower bound on what the pages asked)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = (
        f"GET /api/counts/ HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    asked_at = -math.inf
    while True:
        await state["counts_due"].wait()
        await asyncio.sleep(max(0.0, asked_at + COUNTS_EVERY_SECONDS - loop.time()))
        state["counts_due"].clear()
        asked_at = loop.time()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise BenchError(f"GET /api/counts/ answered {head[:40]!r}")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        state["counts_requests"] += 1


async def _read(socket, state: dict, shown, handed) -> dict:
    arrivals: dict[int, float] = {}
    handed_over: dict[int, float] = {}  # when the socket showed each customer waiting
    out_of_order = frames = 0
    kinds: Counter[str] = Counter()
    open_to_the_end = True
    try:
        async for raw in socket:
            now = time.monotonic()
            frames += 1
            # A packed frame (several events that piled up) is parsed; a single event
            # is only searched, as above.
            for event in json.loads(raw) if raw.startswith("[") else (raw,):
                kind, seq, number = _facts(event)
                kinds[kind] += 1
                if kind == "conversation.updated" and "counts_due" in state:
                    state["counts_due"].set()
                waiting = _waiting_number(event) if kind == "conversation.updated" else None
                if waiting is not None and waiting not in handed_over:
                    handed_over[waiting] = now
                    with handed.get_lock():
                        handed.value += 1
                if seq is not None:
                    if seq <= state["seq"]:
                        out_of_order += 1
                    state["seq"] = max(state["seq"], seq)
                if number is not None and number not in arrivals:
                    arrivals[number] = now
                    with shown.get_lock():
                        shown.value += 1
    except Exception:  # noqa: BLE001 - a socket the server closed is reported, not raised
        open_to_the_end = False
    return {
        "arrivals": arrivals,
        "handed_over": handed_over,
        "out_of_order": out_of_order,
        "frames": frames,
        "kinds": kinds,
        "open_to_the_end": open_to_the_end,
    }


def _facts(event: str | dict) -> tuple[str, int | None, int | None]:
    """An event's type, number, and the bench's number of the customer message it
    shows, from its text or, out of a packed frame, its parsed form."""
    if isinstance(event, str):
        kind, seq = KIND.search(event[:60]), SEQ.search(event[:200])
        return (
            kind.group(1) if kind else "?",
            int(seq.group(1)) if seq else None,
            customer_number(event),
        )
    message = event.get("message") or {}
    text = message.get("text") or ""
    number = None
    if message.get("author_kind") == "customer" and text.startswith(MARK):
        number = int(text[len(MARK) :].split("-", 1)[0])
    return event.get("type", "?"), event.get("seq"), number


def _waiting_number(event: str | dict) -> int | None:
    """The bench customer whose conversation this update shows waiting, if it does."""
    if isinstance(event, str):
        found = WAITING.search(event)
        return int(found.group(1)) if found else None
    conversation = event.get("conversation") or {}
    external_id = (conversation.get("contact") or {}).get("external_id", "")
    if conversation.get("state") != "waiting" or not external_id.startswith(CUSTOMER):
        return None
    return int(external_id[len(CUSTOMER) :])


CUSTOMER = "live-bench-customer-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.bench_live",
        description="Time each agent's inbox showing customer messages, N sockets open.",
    )
    parser.add_argument("--agents", type=int, default=50, help="agents with a socket open [50]")
    parser.add_argument("--rate", type=float, default=20.0, help="hand-overs a second [20]")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the run [30]")
    parser.add_argument(
        "--counts",
        choices=("socket", "http"),
        default="socket",
        help="the tabs' counts from the socket (as the inbox does), or asked over HTTP "
        "after each update as the inbox did before [socket]",
    )
    parser.add_argument(
        "--listing",
        choices=("all", "waiting"),
        default="all",
        help="the list the pages show: all (every row's events: the customer's message is "
        "timed) or waiting (as the inbox opens: the customer shown waiting is) [all]",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="on throwaway PostgreSQL and Redis, two web processes and the worker process",
    )
    args = parser.parse_args(argv)
    children = Subprocesses()
    load = [round(value, 2) for value in os.getloadavg()]
    try:
        if args.postgres:
            bench_scale.require_servers()
            run = live_phase_postgres(
                children,
                agents=args.agents,
                rate=args.rate,
                seconds=args.seconds,
                counts=args.counts,
                listing=args.listing,
            )
        else:
            with running_stack(children) as stack:
                run = live_phase(
                    children,
                    stack,
                    agents=args.agents,
                    rate=args.rate,
                    seconds=args.seconds,
                    counts=args.counts,
                    listing=args.listing,
                )
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
    print(f"{os.cpu_count()} cores, load average at the start {load}")
    print(run.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
