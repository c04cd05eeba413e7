"""The Prometheus instruments every process records into, and nothing else.

Each instrument is defined once here, with its labels and buckets; the code where a thing
happens records it (`WEBHOOK_REQUESTS.labels(code="200").inc()`), and `handoff.web.metrics`
exposes them. Labels are bounded sets only (status codes, outcomes, bot kinds, Braze
endpoints): never a conversation, customer or agent, whose numbers grow without end
(https://prometheus.io/docs/practices/naming/). Numbers that are database state (queue
depths, waiting conversations) are not here: `/metrics` reads them from the database when
it is scraped, so they are right whichever process answers.

With `PROMETHEUS_MULTIPROC_DIR` in the environment before this module is imported,
prometheus-client keeps every value in files in that directory, one set per process, and
`/metrics` sums them (docs/deploy.md, "Metrics"): the worker processes that send to Braze
serve no HTTP. This module imports nothing of ours.
"""

import atexit
import os
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

# Buckets fitted to each hop rather than the library's .005-10 s default.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
ROUTING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BOT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
BRAZE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
ASSIGNMENT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

WEBHOOK_REQUESTS = Counter(
    "handoff_webhook_requests",
    "Requests to the Braze webhook, by the HTTP status answered.",
    ["code"],
)
WEBHOOK_STORE_SECONDS = Histogram(
    "handoff_webhook_store_seconds",
    "Hop 1: from a webhook request's arrival to its message being stored.",
    buckets=WEBHOOK_BUCKETS,
)
MESSAGES_STORED = Counter(
    "handoff_messages_stored",
    "Messages stored: customers' (in) and the bot's, agents' and the system's (out).",
    ["direction", "author_kind"],
)
ROUTING_DELAY_SECONDS = Histogram(
    "handoff_routing_delay_seconds",
    "Hop 2: from a customer's message being stored to its routing committed (a message "
    "held for a second campaign's copy includes the hold).",
    buckets=ROUTING_BUCKETS,
)
BOT_SECONDS = Histogram(
    "handoff_bot_seconds",
    "Hop 3: how long the bot took to answer, by bot.",
    ["bot"],
    buckets=BOT_BUCKETS,
)
BOT_ANSWERS = Counter(
    "handoff_bot_answers",
    "The bot's answers by bot and outcome (answered, miss, handoff, error).",
    ["bot", "outcome"],
)
DELIVERY_DELAY_SECONDS = Histogram(
    "handoff_delivery_delay_seconds",
    "Hop 4: from a reply being queued to Braze accepting it (retries included).",
    buckets=DELIVERY_BUCKETS,
)
BRAZE_REQUESTS = Counter(
    "handoff_braze_requests",
    "Requests to Braze by endpoint (messages, users_track) and outcome "
    "(sent, retry, failed, rate_limited).",
    ["endpoint", "outcome"],
)
BRAZE_REQUEST_SECONDS = Histogram(
    "handoff_braze_request_seconds",
    "How long Braze took to answer a request, by endpoint.",
    ["endpoint"],
    buckets=BRAZE_BUCKETS,
)
BRAZE_RATE_LIMIT_PAUSES = Counter(
    "handoff_braze_rate_limit_pauses",
    "Braze answered 429 and this process paused the endpoint until its reset time.",
    ["endpoint"],
)
ASSIGNMENT_LATENCY_SECONDS = Histogram(
    "handoff_assignment_latency_seconds",
    "From a hand-over to the conversation's automatic assignment to an agent.",
    buckets=ASSIGNMENT_BUCKETS,
)
# livesum: the sockets open in the processes alive now, summed (multiprocess mode).
WEBSOCKET_CONNECTIONS = Gauge(
    "handoff_websocket_connections",
    "Agents' inbox websockets open now.",
    multiprocess_mode="livesum",
)

# Braze endpoints, as labels.
MESSAGES = "messages"
USERS_TRACK = "users_track"

# A Braze client Outcome's value -> the outcome label.
BRAZE_OUTCOMES = {
    "accepted": "sent",
    "retry": "retry",
    "rejected": "failed",
    "rate_limited": "rate_limited",
}


def braze_request(*, endpoint: str, outcome: str, seconds: float) -> None:
    """Count one answered (or timed-out) request to Braze; `outcome` is the client's
    `Outcome` value."""
    BRAZE_REQUESTS.labels(endpoint=endpoint, outcome=BRAZE_OUTCOMES[outcome]).inc()
    BRAZE_REQUEST_SECONDS.labels(endpoint=endpoint).observe(seconds)


def observe_between(histogram, start: datetime | None, end: datetime | None) -> None:
    """Record the seconds from `start` to `end` (row timestamps); nothing when either is
    unknown, zero when clocks of two hosts put `end` first."""
    if start is None or end is None:
        return
    histogram.observe(max((end - start).total_seconds(), 0.0))


def multiprocess_directory() -> str | None:
    """The directory multiprocess mode keeps its files in, or None in one-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _forget_this_process() -> None:
    """At exit, drop this process's `live*` gauge files, so that a stopped process's open
    sockets stop counting (no Gunicorn master does it for us)."""
    from prometheus_client import multiprocess

    directory = multiprocess_directory()
    if directory and os.path.isdir(directory):
        multiprocess.mark_process_dead(os.getpid(), directory)


if multiprocess_directory():
    atexit.register(_forget_this_process)
