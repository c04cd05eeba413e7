"""The background threads that route customer messages and deliver replies.

They run inside the web process by default (one process, nothing else to start:
the in-memory channel layer then reaches every agent's socket) or in `worker`
processes (`python manage.py run_workers`) when a deployment grows. Either way a
thread does one unit of work at a time and sleeps until woken by a commit in this
process or until its poll interval passes.
"""

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection

from handoff import wakeups
from handoff.braze import BrazeClient
from handoff.ingestion import Pacer
from handoff.services.delivery import deliver_next
from handoff.services.routing import route_next

logger = logging.getLogger(__name__)

ERROR_PAUSE_SECONDS = 1.0


class WorkerThread(threading.Thread):
    def __init__(
        self, name: str, step: Callable[[], bool], wake: threading.Event, stop: threading.Event
    ):
        super().__init__(name=name, daemon=True)
        self.step = step
        self.wake = wake
        self.stop_event = stop

    def run(self) -> None:
        poll = settings.HANDOFF_POLL_SECONDS
        pacer = Pacer()
        try:
            while not self.stop_event.is_set():
                # Clear before working: a wake-up that lands during the step is kept.
                self.wake.clear()
                try:
                    did_work = pacer.run(self.step)
                except Exception:
                    logger.exception("%s failed; retrying shortly", self.name)
                    connection.close()  # a broken connection is reopened next time
                    self.stop_event.wait(ERROR_PAUSE_SECONDS)
                    continue
                if not did_work:
                    close_old_connections()
                    self.wake.wait(poll)
        finally:
            connection.close()


class Workers:
    """A set of routing and delivery threads that start and stop together."""

    def __init__(self, *, routing_threads: int | None = None, delivery_threads: int | None = None):
        self.stop_event = threading.Event()
        routing_threads = (
            settings.HANDOFF_ROUTING_THREADS if routing_threads is None else routing_threads
        )
        delivery_threads = (
            settings.HANDOFF_DELIVERY_THREADS if delivery_threads is None else delivery_threads
        )
        self.threads: list[WorkerThread] = [
            WorkerThread(
                f"routing-{n}", route_next, wakeups.event_for(wakeups.ROUTING), self.stop_event
            )
            for n in range(routing_threads)
        ]
        for n in range(delivery_threads):
            client = BrazeClient()
            self.threads.append(
                WorkerThread(
                    f"delivery-{n}",
                    lambda client=client: deliver_next(client),
                    wakeups.event_for(wakeups.DELIVERY),
                    self.stop_event,
                )
            )

    def start(self) -> "Workers":
        for thread in self.threads:
            thread.start()
        logger.info("Started %d background worker threads", len(self.threads))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for event in (wakeups.event_for(wakeups.ROUTING), wakeups.event_for(wakeups.DELIVERY)):
            event.set()
        for thread in self.threads:
            thread.join(timeout)


_embedded: Workers | None = None
_embedded_lock = threading.Lock()


def start_embedded_workers() -> None:
    """Start this process's workers once (the web process, in the default setup)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = Workers().start()
