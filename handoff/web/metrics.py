"""GET /metrics: the operators' numbers in Prometheus's text format (docs/deploy.md, "Metrics").

Off (404, as if there were no such page) unless HANDOFF_METRICS_TOKEN is set; then only
a request carrying `Authorization: Bearer <that token>` gets them, compared in constant
time. The token is never logged or echoed.

What it serves: the instruments of `handoff.telemetry.metrics`, from this process alone
or, with PROMETHEUS_MULTIPROC_DIR set, summed over every process that writes there (the
`run_workers` processes send to Braze and serve no HTTP); and the queues' gauges, read
from the database now (`selectors.operations`), so they are right whichever process
is scraped. A plain sync view: reading the files and the database is blocking I/O, and
Django runs it on a worker thread.
"""

import hmac

from django.conf import settings
from django.core import checks
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from handoff.selectors.operations import Operations, operations
from handoff.telemetry.metrics import multiprocess_directory
from handoff.web.json_errors import json_error


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.HANDOFF_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: HANDOFF_METRICS_TOKEN is not set.")
    if request.method not in ("GET", "HEAD"):
        return json_error(405, f"Use GET; {request.method} is not allowed here.", Allow="GET")
    if not _bearer_matches(request, token):
        return json_error(
            401,
            "Missing or wrong credentials: send the header "
            "'Authorization: Bearer <HANDOFF_METRICS_TOKEN>'.",
            WWW_Authenticate='Bearer realm="handoff-metrics"',
        )
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(_Scrape(_instruments(), DatabaseGauges())))
    response["Content-Type"] = content_type
    response["Cache-Control"] = "no-store"
    return response


def worker_metrics_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when /metrics is on and the work runs in `worker` processes, but they have no
    shared directory to write to: their Braze sends and bot answers would never show."""
    if (
        settings.HANDOFF_METRICS_TOKEN
        and not settings.HANDOFF_EMBEDDED_WORKERS
        and not multiprocess_directory()
    ):
        return [
            checks.Warning(
                "/metrics shows only the numbers of the process that answers it, and the "
                "worker processes' (Braze sends, bot answers) are missing.",
                hint="Set PROMETHEUS_MULTIPROC_DIR for every web and worker process "
                "(docs/deploy.md, Metrics).",
                id="handoff.W001",
            )
        ]
    return []


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest on both branches' bytes: the time taken tells nothing of the token.
    equal = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and equal


def _instruments():
    """This process's instruments, or every process's when they share a directory."""
    directory = multiprocess_directory()
    if directory:
        # Not registered anywhere: a fresh read of the directory per scrape.
        return MultiProcessCollector(None, path=directory)
    return REGISTRY


class _Scrape:
    """Several collectors exposed as one, for `generate_latest`, which asks only `collect`."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


class DatabaseGauges:
    """The queues as the database holds them at scrape time, one family per number."""

    def collect(self):
        yield from families(operations())


def families(ops: Operations) -> list[GaugeMetricFamily]:
    routing = GaugeMetricFamily(
        "handoff_routing_queue_messages", "Customers' messages waiting to be routed."
    )
    routing.add_metric([], ops.routing.items)
    routing_age = GaugeMetricFamily(
        "handoff_routing_queue_oldest_age_seconds",
        "How long the oldest message waiting to be routed has waited (0 when none).",
    )
    routing_age.add_metric([], ops.routing.oldest_age_seconds)
    delivery = GaugeMetricFamily(
        "handoff_delivery_queue_messages",
        "Messages to customers not yet accepted by Braze, by state (queued, retrying).",
        labels=["state"],
    )
    delivery_age = GaugeMetricFamily(
        "handoff_delivery_queue_oldest_age_seconds",
        "Since when the oldest unsent message of each state was queued (0 when none).",
        labels=["state"],
    )
    for state, queue in sorted(ops.delivery.items()):
        delivery.add_metric([state], queue.items)
        delivery_age.add_metric([state], queue.oldest_age_seconds)
    waiting = GaugeMetricFamily(
        "handoff_conversations_waiting",
        "Conversations handed over and waiting for an agent, by team ('' for none).",
        labels=["team"],
    )
    waiting_age = GaugeMetricFamily(
        "handoff_conversations_oldest_wait_seconds",
        "How long the longest-waiting conversation of each team has waited (0 when none).",
        labels=["team"],
    )
    for team, queue in sorted(ops.waiting.items()):
        waiting.add_metric([team], queue.items)
        waiting_age.add_metric([team], queue.oldest_age_seconds)
    profile = GaugeMetricFamily(
        "handoff_profile_queue_updates", "Braze profile updates not yet accepted by Braze."
    )
    profile.add_metric([], ops.profile_updates.items)
    profile_age = GaugeMetricFamily(
        "handoff_profile_queue_oldest_age_seconds",
        "How long the oldest unsent profile update has waited (0 when none).",
    )
    profile_age.add_metric([], ops.profile_updates.oldest_age_seconds)
    return [
        routing,
        routing_age,
        delivery,
        delivery_age,
        waiting,
        waiting_age,
        profile,
        profile_age,
    ]
