"""The background threads that route customer messages, deliver replies, record chat
facts on Braze profiles and assign waiting conversations to agents.

They run inside the web process by default (one process, nothing else to start:
the in-memory channel layer then reaches every agent's socket) or in `worker`
processes (`python manage.py run_workers`) when a deployment grows. Either way a
thread does one unit of work at a time and sleeps until woken by a commit in this
process or until its poll interval passes.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection

from handoff.braze.client import BrazeClient
from handoff.jobs import wakeups
from handoff.jobs.pacing import Pacer
from handoff.live.feed import prune_events
from handoff.live.presence import forget_stale_sockets, sweep_seconds
from handoff.services import queue_updates, window_closing, window_priority
from handoff.services.assignment import assign_next
from handoff.services.delivery import deliver_next
from handoff.services.erasure import prune_retention
from handoff.services.profile_sync import prune_sent, sync_next
from handoff.services.reply_timer import return_overdue
from handoff.services.routing import route_next
from handoff.services.sla import check_due

logger = logging.getLogger(__name__)

ERROR_PAUSE_SECONDS = 1.0
PRUNE_EVENTS_EVERY_SECONDS = 3600.0


class Periodic:
    """A chore that whichever worker thread is idle runs, at most once per `every`
    seconds in this process; the others skip it at the cost of reading a clock.

    Run only from a worker's idle moment, outside any transaction, so that the chore's
    own short commits never hold the database's write lock for long.
    """

    def __init__(self, name: str, job: Callable[[], object], every: float, clock=time.monotonic):
        self.name = name
        self.job = job
        self.every = every
        self.clock = clock
        self._due = 0.0  # the first idle moment after start
        self._lock = threading.Lock()

    def run_if_due(self) -> None:
        if self.clock() < self._due or not self._lock.acquire(blocking=False):
            return
        try:
            if self.clock() < self._due:
                return
            self._due = self.clock() + self.every
            result = self.job()
            logger.debug("%s: %s", self.name, result)
        except Exception:
            logger.exception("%s failed; trying again in %.0f s", self.name, self.every)
        finally:
            self._lock.release()


# One set per process, shared by every worker thread (and every Workers in it).
CHORES = (
    Periodic("prune_events", prune_events, PRUNE_EVENTS_EVERY_SECONDS),
    # Announces agents offline once their grace period (or their heartbeat) ran out.
    Periodic("forget_stale_sockets", forget_stale_sockets, sweep_seconds()),
    Periodic("prune_sent_profile_updates", prune_sent, 3600),
    # Does nothing unless HANDOFF_RETENTION_DAYS is set.
    Periodic("prune_retention", lambda: prune_retention(requested_by="workers"), 3600),
)


def run_due_chores() -> None:
    for chore in CHORES:
        chore.run_if_due()


def assign_or_return() -> bool:
    """One step of the assigner thread: an assignment, else a change in who goes
    first because their WhatsApp window is closing, else a reply timer's return, else
    an SLA clock turning at risk or breached, else a customer's window about to close
    unanswered, else a waiting customer's new place to tell."""
    return (
        assign_next()
        or window_priority.refresh_if_due()
        or return_overdue()
        or check_due()
        or window_closing.check_due()
        or queue_updates.check_due()
    )


class WorkerThread(threading.Thread):
    def __init__(
        self,
        name: str,
        step: Callable[[], bool],
        wake: threading.Event,
        stop: threading.Event,
        idle: Callable[[], None] = run_due_chores,
        paced: bool = True,
    ):
        super().__init__(name=name, daemon=True)
        self.step = step
        self.paced = paced
        self.idle = idle
        self.wake = wake
        self.stop_event = stop

    def run(self) -> None:
        poll = settings.HANDOFF_POLL_SECONDS
        # Unpaced, a thread runs its steps as they come (a share of 1 owes no rest).
        pacer = Pacer() if self.paced else Pacer(share=1.0)
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
                    self.idle()
                    close_old_connections()
                    self.wake.wait(poll)
        finally:
            connection.close()


class Workers:
    """A set of routing, delivery, profile and assignment threads that start and stop
    together.

    One profile thread is plenty: it sends up to 75 customers' facts per request,
    and Braze allows thousands of /users/track requests a second. None when
    BRAZE_PROFILE_SYNC is off, since nothing is ever queued then.
    """

    def __init__(
        self,
        *,
        routing_threads: int | None = None,
        delivery_threads: int | None = None,
        profile_threads: int | None = None,
    ):
        self.stop_event = threading.Event()
        self.listener: wakeups.Listener | None = None
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
        if profile_threads is None:
            profile_threads = 1 if settings.BRAZE_PROFILE_SYNC else 0
        # One assigner per process: it takes one conversation per short transaction,
        # and the assigners of other processes take others (services/assignment.py).
        # Between assignments it returns chats whose reply is overdue and moves SLA
        # states; its poll interval is the resolution of both.
        self.threads.append(
            WorkerThread(
                "assigner",
                assign_or_return,
                wakeups.event_for(wakeups.ASSIGNMENT),
                self.stop_event,
                paced=False,
            )
        )
        self._add_braze_threads("delivery", deliver_next, wakeups.DELIVERY, delivery_threads)
        self._add_braze_threads("profile", sync_next, wakeups.PROFILE, profile_threads)

    def _add_braze_threads(
        self, name: str, job: Callable[[BrazeClient], bool], channel: str, count: int
    ) -> None:
        """Threads that call Braze, each with its own client: a requests.Session must
        not be shared between threads."""
        for n in range(count):
            client = BrazeClient()
            self.threads.append(
                WorkerThread(
                    f"{name}-{n}",
                    lambda client=client: job(client),
                    wakeups.event_for(channel),
                    self.stop_event,
                )
            )

    def start(self) -> "Workers":
        for thread in self.threads:
            thread.start()
        # Woken by other processes' commits too (PostgreSQL), not only by this one's.
        self.listener = wakeups.start_listener(self.stop_event)
        logger.info("Started %d background worker threads", len(self.threads))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        wakeups.wake_all()
        for thread in [*self.threads, *filter(None, [self.listener])]:
            thread.join(timeout)


_embedded: Workers | None = None
_embedded_lock = threading.Lock()


def start_embedded_workers() -> None:
    """Start this process's workers once (the web process, in the default setup)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = Workers().start()
