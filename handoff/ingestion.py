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
_REST_SLICE_SECONDS = 0.01

# Changed only on the server's event loop thread; read by worker threads.
_in_flight = 0
_last_activity = 0.0

T = TypeVar("T")


@contextmanager
def inbound_request() -> Iterator[None]:
    global _in_flight, _last_activity
    _in_flight += 1
    try:
        yield
    finally:
        _in_flight -= 1
        _last_activity = time.monotonic()


def inbound_busy() -> bool:
    return _in_flight > 0 or time.monotonic() - _last_activity < QUIET_AFTER_SECONDS


class Pacer:
    """Paces one worker thread's steps while the webhook is busy (see the module)."""

    def __init__(self, share: float = WORKER_CPU_SHARE, max_rest: float = MAX_REST_SECONDS):
        self.rest_per_cpu_second = 1 / share - 1
        self.max_rest = max_rest
        self.owed = 0.0

    def run(self, step: Callable[[], T]) -> T:
        self._rest()
        started = time.thread_time()
        try:
            return step()
        finally:
            self.owed = (time.thread_time() - started) * self.rest_per_cpu_second

    def _rest(self) -> None:
        rested = 0.0
        while self.owed > 0 and rested < self.max_rest and inbound_busy():
            pause = min(self.owed, _REST_SLICE_SECONDS)
            time.sleep(pause)
            self.owed -= pause
            rested += pause
        self.owed = 0.0
