"""Ingestion first: background work in the web process yields to webhook requests.

Braze needs its 200 quickly (it times out, retries and, past 3,000 failures a
minute, stops sending); a reply reaching the customer some milliseconds later is
harmless. With the workers inside the web process and Python's GIL, routing and
delivery would otherwise take CPU from the webhook in a burst. A worker waits a
bounded time for the webhook to go quiet before each step, so bursts are absorbed
first and replies catch up right after, and no reply is ever starved for long.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAX_YIELD_SECONDS = 0.05

# Changed only on the server's event loop thread; read by worker threads. The event
# is set whenever no webhook request is in flight, so waiting costs no polling.
_in_flight = 0
_quiet = threading.Event()
_quiet.set()


@contextmanager
def inbound_request() -> Iterator[None]:
    global _in_flight
    _in_flight += 1
    _quiet.clear()
    try:
        yield
    finally:
        _in_flight -= 1
        if not _in_flight:
            _quiet.set()


def yield_to_inbound(max_seconds: float = MAX_YIELD_SECONDS) -> None:
    """Wait (at most `max_seconds`) while webhook requests are being handled."""
    _quiet.wait(max_seconds)
