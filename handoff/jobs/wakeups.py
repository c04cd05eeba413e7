"""Wake-ups for the background workers, within a process and across processes.

A worker thread sleeps until either new work is committed or its poll interval
passes (retries coming due, claims that lapsed). Waking on commit is what keeps a
bot reply's latency in milliseconds without polling the database hard.

In one process an in-memory event does it. On PostgreSQL the commit also sends a
NOTIFY, which the database delivers only if the transaction commits, to every
process that LISTENs (`Listener`): a message stored by web process A wakes the
workers of process B at once instead of at their next poll.
"""

import logging
import math
import threading
import time

from django.db import connection, transaction

logger = logging.getLogger(__name__)

ROUTING = "routing"
DELIVERY = "delivery"
PROFILE = "profile"  # profile updates for Braze's /users/track
ASSIGNMENT = "assignment"  # a conversation may now go to an agent (services/assignment.py)

_events = {
    ROUTING: threading.Event(),
    DELIVERY: threading.Event(),
    PROFILE: threading.Event(),
    ASSIGNMENT: threading.Event(),
}
CHANNEL_PREFIX = "handoff_"
RECONNECT_SECONDS = 2.0


def event_for(queue: str) -> threading.Event:
    return _events[queue]


def wake_all() -> None:
    """Wake every worker now (used when stopping them)."""
    for event in _events.values():
        event.set()


def wake_after_commit(queue: str) -> None:
    transaction.on_commit(_events[queue].set)
    if connection.vendor == "postgresql":
        # Sent at commit, never for a rollback; repeats in one transaction fold into one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL_PREFIX + queue])


class Listener(threading.Thread):
    """LISTENs on its own PostgreSQL connection and sets the matching wake-up event.

    A lost connection costs only latency (the workers still poll), so it reconnects
    quietly after a pause.
    """

    def __init__(self, stop: threading.Event):
        super().__init__(name="wakeup-listener", daemon=True)
        self.stop_event = stop
        self.listening = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._listen()
            except Exception:
                logger.warning("Wake-up listener lost its connection; reconnecting", exc_info=True)
                self.listening.clear()
                self.stop_event.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        with psycopg.connect(**params, autocommit=True) as conn:
            for queue in _events:
                conn.execute(f"LISTEN {CHANNEL_PREFIX}{queue}")
            self.listening.set()
            while not self.stop_event.is_set():
                for notice in conn.notifies(timeout=1.0):
                    queue = notice.channel.removeprefix(CHANNEL_PREFIX)
                    if queue in _events:
                        _events[queue].set()


def start_listener(stop: threading.Event) -> Listener | None:
    """A listener for this process's workers, on PostgreSQL; None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    listener = Listener(stop)
    listener.start()
    return listener


# --- Waking a queue after a delay -------------------------------------------------------

# Delayed wake-ups are rounded up to this step and shared, so a burst of held messages
# costs a few timer threads, not one each.
_WAKE_STEP_SECONDS = 0.25
_wake_slots: set[tuple[str, int]] = set()
_wake_lock = threading.Lock()


def wake_after(queue: str, delay: float) -> None:
    """Wake this process's workers of `queue` once `delay` seconds have passed (a held
    message becomes routable then). Worker processes elsewhere find it at their poll."""
    slot = math.ceil((time.monotonic() + delay) / _WAKE_STEP_SECONDS)
    with _wake_lock:
        if (queue, slot) in _wake_slots:
            return
        _wake_slots.add((queue, slot))
    # A little past the slot: the lease must have ended by the clock the claim reads.
    timer = threading.Timer(
        slot * _WAKE_STEP_SECONDS - time.monotonic() + 0.02, _wake, [queue, slot]
    )
    timer.daemon = True
    timer.start()


def _wake(queue: str, slot: int) -> None:
    with _wake_lock:
        _wake_slots.discard((queue, slot))
    event_for(queue).set()
