"""In-process wake-ups for the background workers.

A worker thread sleeps until either new work is committed in this process or its
poll interval passes (work from other processes, retries coming due, claims that
lapsed). Waking on commit is what keeps a bot reply's latency in milliseconds
without polling the database hard.
"""

import threading

from django.db import transaction

ROUTING = "routing"
DELIVERY = "delivery"

_events = {ROUTING: threading.Event(), DELIVERY: threading.Event()}


def event_for(queue: str) -> threading.Event:
    return _events[queue]


def wake_after_commit(queue: str) -> None:
    transaction.on_commit(_events[queue].set)
