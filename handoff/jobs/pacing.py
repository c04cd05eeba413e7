"""Ingestion first: background work in the web process yields to webhook requests.

Braze needs its 200 quickly (it times out, retries and, past 3,000 failures a
minute, stops sending); a reply reaching the customer some milliseconds later is
harmless. With the workers inside the web process and Python's GIL, routing and
delivery would otherwise take CPU from the webhook in a burst.

So while webhook requests keep arriving, each worker thread is paced to a small
share of the CPU: after a step that used `c` seconds of CPU it rests about
`c * (1 / share - 1)` before the next one. The moment the webhook goes quiet (no
request in flight and none for a few milliseconds) the rest ends and the workers
run flat out, so a steady load with gaps (50 messages a second) is not slowed,
bursts are absorbed first, and no reply waits longer than MAX_REST_SECONDS per step.
Measured in docs/benchmarks.md.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

QUIET_AFTER_SECONDS = 0.005
WORKER_CPU_SHARE = 0.02
MAX_REST_SECONDS = 0.5
REST_SLICE_SECONDS = 0.01

T = TypeVar("T")


class InboundTraffic:
    """Webhook requests in flight and when the last one ended.

    Changed only on the server's event loop thread; read by worker threads. The clock
    is injectable so that tests decide when time passes instead of measuring it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._in_flight = 0
        self._last_activity = float("-inf")

    @contextmanager
    def request(self) -> Iterator[None]:
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._last_activity = self._clock()

    def busy(self) -> bool:
        return self._in_flight > 0 or self._clock() - self._last_activity < QUIET_AFTER_SECONDS


# The web process's traffic: the webhook view enters it, the workers' pacers read it.
_traffic = InboundTraffic()
inbound_request = _traffic.request
inbound_busy = _traffic.busy


class Pacer:
    """Paces one worker thread's steps while the webhook is busy (see the module).

    `busy`, `cpu_clock` and `sleep` are injectable for tests; the defaults are the web
    process's traffic, this thread's CPU time and a real sleep.
    """

    def __init__(
        self,
        share: float = WORKER_CPU_SHARE,
        max_rest: float = MAX_REST_SECONDS,
        *,
        busy: Callable[[], bool] = inbound_busy,
        cpu_clock: Callable[[], float] = time.thread_time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rest_per_cpu_second = 1 / share - 1
        self.max_rest = max_rest
        self.owed = 0.0
        self._busy = busy
        self._cpu_clock = cpu_clock
        self._sleep = sleep

    def run(self, step: Callable[[], T]) -> T:
        self._rest()
        started = self._cpu_clock()
        try:
            return step()
        finally:
            self.owed = (self._cpu_clock() - started) * self.rest_per_cpu_second

    def _rest(self) -> None:
        rested = 0.0
        while self.owed > 0 and rested < self.max_rest and self._busy():
            pause = min(self.owed, REST_SLICE_SECONDS, self.max_rest - rested)
            self._sleep(pause)
            self.owed -= pause
            rested += pause
        self.owed = 0.0
