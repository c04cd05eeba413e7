"""`make bench`'s assignment phase: how soon after a hand-over commits its chat shows
as assigned on the agent's socket, at 50 hand-overs a second on SQLite.

The app is restarted on the SQLite phase's database with every message routed straight
to the agents, auto-assignment on, five agents with room for everything and a watcher
who is away (so never assigned). Each has an inbox socket open, as a browser would.
Customers write on an open-loop schedule (`tests.devtools.loadgen`); each message is a
new customer's hand-over.

Two times per conversation, both read on this process's monotonic clock as the frames
arrive: the watcher's socket receiving the `escalated` event (pushed once the
hand-over committed) and the assignee's own socket receiving the `assigned` event.
The difference is the assignment latency the issue's target is written in (p99 under
100 ms). The baseline beside it, from the same run, is the hand-over itself: the
webhook's scheduled send to the `escalated` event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets.sync.client as ws_client

from tests.devtools.bench_harness import (
    AGENT_PASSWORD,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    BenchError,
    Options,
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

# The target's rate, and a lower one the process sustains, for reference.
RATES = (10.0, 50.0)
AGENTS = 5
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class AssignmentLatency:
    rate: float
    seconds: float
    agents: int
    handovers: int
    assigned: int
    webhook_errors: int
    assign_ms: list[float] = field(repr=False)
    handover_ms: list[float] = field(repr=False)
    # The app process's CPU time (user and system) over the run, per hand-over: a
    # figure a busy neighbour changes far less than the latencies.
    app_cpu_ms_per_handover: float = math.nan

    percentile = staticmethod(nearest_rank)

    def summary(self) -> dict[str, Any]:
        figures = {}
        for name, values in (("assign", self.assign_ms), ("handover", self.handover_ms)):
            for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
                figures[f"{name}_{label}_ms"] = self.percentile(values, fraction)
            figures[f"{name}_max_ms"] = max(values, default=math.nan)
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "agents": self.agents,
            "handovers": self.handovers,
            "assigned": self.assigned,
            "webhook_errors": self.webhook_errors,
            **figures,
            "app_cpu_ms_per_handover": self.app_cpu_ms_per_handover,
        }


class SocketClock:
    """Reads one agent's inbox socket on a thread and stamps the frames it cares about."""

    def __init__(self, url: str, session, username: str):
        headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies)}
        self.socket = ws_client.connect(
            url.replace("http://", "ws://") + "/ws/inbox/",
            additional_headers=headers,
            origin=url,
            open_timeout=10,
        )
        self.username = username
        self.escalated: dict[int, float] = {}
        self.customer: dict[int, str] = {}  # conversation id -> the customer's external id
        self.assigned: dict[int, float] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                now = time.monotonic()
                frame = json.loads(raw)
                event = frame.get("event") if frame.get("type") == "conversation.updated" else None
                if not event:
                    continue
                conversation_id = frame["conversation"]["id"]
                if event["kind"] == "escalated":
                    self.escalated.setdefault(conversation_id, now)
                    self.customer[conversation_id] = frame["conversation"]["contact"]["external_id"]
                elif event["kind"] == "assigned" and event["data"].get("to") == self.username:
                    self.assigned.setdefault(conversation_id, now)
        except Exception:  # noqa: BLE001 - closed at the end of the phase
            return

    def close(self) -> None:
        self.socket.close()
        self.thread.join(5)


def body_for(first: int):
    """Bodies numbered from `first`: each run's customers are new ones."""

    def body(number: int) -> bytes:
        customer = first + number
        return json.dumps(
            {
                "user_id": f"bench-assign-{customer}",
                "phone_number": f"+8192{customer:08d}",
                "message": f"I need a person, please ({customer})",
                "message_id": f"assign-{customer}",
            },
            separators=(",", ":"),
        ).encode()

    return body


def assignment_phase(
    children: Subprocesses, stack: Stack, options: Options
) -> list[AssignmentLatency]:
    """Restart the app on the same database and time each assignment, at a rate the
    process sustains (the reference) and at the target's rate."""
    workdir = Path(stack.database).parent
    children.stop(stack.app.process)
    env = server_env(f"sqlite:///{stack.database}", stack.standin.url)
    names = [f"bench-agent-{n}" for n in range(AGENTS)] + ["bench-watcher"]
    set_up_desk(children, env, names=names, topic="bench-desk", auto_assign=True, capacity=999)
    app = start_app(children, env, workdir, log_name="daphne-assign.log")
    sessions = {name: login(app.url, name, AGENT_PASSWORD) for name in names}
    watcher_session = sessions["bench-watcher"]
    answer = watcher_session.post(
        f"{app.url}/api/me/status/",
        json={"status": "away"},
        headers={"X-CSRFToken": watcher_session.cookies["csrftoken"], "Referer": f"{app.url}/"},
        timeout=10,
    )
    if answer.status_code != 200:
        raise BenchError(f"the watcher could not step away: {answer.status_code}")
    clocks = [SocketClock(app.url, sessions[name], name) for name in names]
    results = []
    try:
        time.sleep(1.0)  # every socket's hello, and the agents online
        for index, rate in enumerate(RATES):
            results.append(
                _timed_run(
                    app.port,
                    clocks,
                    rate,
                    options.seconds,
                    first=index * 10**6,
                    pid=app.process.pid,
                )
            )
    finally:
        for clock in clocks:
            clock.close()
        children.stop(app.process)  # its workers would serve the next phase's messages too
    return results


def _timed_run(
    port: int, clocks: list[SocketClock], rate: float, seconds: float, *, first: int, pid: int
) -> AssignmentLatency:
    print(f"  assignment latency: {rate:g} hand-overs/s for {seconds:g} s, {AGENTS} agents ...")
    target = Target(
        host="127.0.0.1",
        port=port,
        path=WEBHOOK_PATH,
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
        body_for=body_for(first),
    )
    cpu_before = cpu_seconds(pid)
    run = asyncio.run(run_open_loop(target, rate=rate, seconds=seconds))
    watcher, agents = clocks[-1], clocks[:-1]

    def number(conversation_id: int) -> int | None:
        """The customer's number in this run, or None for another run's."""
        customer = watcher.customer.get(conversation_id, "")
        if not customer.startswith("bench-assign-"):
            return None
        n = int(customer.rsplit("-", 1)[1]) - first
        return n if 0 <= n < run.scheduled else None

    def assigned_now() -> dict[int, float]:
        moments: dict[int, float] = {}
        for clock in agents:
            moments.update({c: t for c, t in clock.assigned.items() if number(c) is not None})
        return moments

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(assigned_now()) < run.scheduled - run.errors:
        time.sleep(0.2)
    time.sleep(0.5)
    cpu = cpu_seconds(pid) - cpu_before
    assigned_at = assigned_now()
    escalated = {c: t for c, t in watcher.escalated.items() if number(c) is not None}
    return AssignmentLatency(
        rate=rate,
        seconds=seconds,
        agents=AGENTS,
        handovers=run.scheduled,
        assigned=len(assigned_at),
        webhook_errors=run.errors,
        assign_ms=[(assigned_at[c] - escalated[c]) * 1000 for c in assigned_at if c in escalated],
        # The customer's number says when their message was scheduled to leave.
        handover_ms=[
            (moment - run.started_at - number(c) / rate) * 1000 for c, moment in escalated.items()
        ],
        app_cpu_ms_per_handover=cpu * 1000 / max(run.scheduled, 1),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """This phase alone, on its own throwaway SQLite installation: for comparing
    commits (check out each and run it, alternating) without the whole bench."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.bench_assignment",
        description="Time auto-assignment after a hand-over at 10 and 50 hand-overs/s.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run [10]")
    args = parser.parse_args(argv)
    options = Options(seconds=args.seconds, connections=16, rate=50.0, warmup_seconds=1.0)
    children = Subprocesses()
    load = [round(value, 2) for value in os.getloadavg()]
    try:
        with running_stack(children) as stack:
            runs = assignment_phase(children, stack, options)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
    print(f"{os.cpu_count()} cores, load average at the start {load}")
    for run in runs:
        figures = run.summary()
        print(
            f"{run.rate:g} hand-overs/s: assignment p50 {figures['assign_p50_ms']:.1f} ms, "
            f"p99 {figures['assign_p99_ms']:.1f} ms; hand-over p50 "
            f"{figures['handover_p50_ms']:.1f} ms, p99 {figures['handover_p99_ms']:.1f} ms; "
            f"app CPU {run.app_cpu_ms_per_handover:.1f} ms per hand-over; "
            f"{run.assigned}/{run.handovers} assigned"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
