"""The inbound webhook Braze's WhatsApp webhook campaign posts to.

Checks run cheapest and most final first, on the event loop: method, source network,
shared secret, size, JSON, fields. Any failure answers a 4xx with a precise message
and stores nothing; Braze never retries a 4xx, so only a request that can never
succeed gets one. A database failure answers 503, which Braze does retry. Success
answers at once: routing and replies happen in the background.
"""

import hmac
import ipaddress
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from handoff.jobs.pacing import inbound_request
from handoff.rules.payloads import InboundPayload, PayloadError, parse_body, validate
from handoff.services.inbound import Accepted, accept_inbound
from handoff.telemetry.metrics import WEBHOOK_REQUESTS, WEBHOOK_STORE_SECONDS
from handoff.web.json_errors import json_error
from handoff.web.security import client_address

logger = logging.getLogger(__name__)

# Long-lived threads store inbound messages: their database connections stay open (no
# connect per request). On SQLite one: its writes, serialised anyway, queue here in
# order instead of contending for the database lock. On PostgreSQL a few store at once,
# as several web processes do (two messages of one customer wait for each other at
# their contact's row lock): with one, each store's round trips queued behind the
# last, and at 20 messages a second beside the workers the webhook answered seconds
# late (docs/benchmarks.md).
POSTGRESQL_INBOUND_WRITERS = 4
_inbound_writer = ThreadPoolExecutor(
    max_workers=1 if connection.vendor == "sqlite" else POSTGRESQL_INBOUND_WRITERS,
    thread_name_prefix="inbound-writer",
)


# PostgreSQL's answers to two transactions that wait for each other (deadlock) or
# cannot both be serialised: one of them is rolled back whole, so it can run again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
STORE_ATTEMPTS = 3


def is_transient(error: DatabaseError) -> bool:
    """Whether the database rolled the transaction back only because another one was
    in its way: nothing of it was stored, and the same work will likely succeed now."""
    return getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES


def _store(payload: InboundPayload, *, accept=None) -> Accepted:
    # A deadlock with a routing worker that holds the same customer's rows (seen on
    # PostgreSQL when a campaign's second copy arrives while the first is routed) is
    # retried here rather than answered 503: Braze would retry, but only later.
    accept = accept or accept_inbound  # looked up per call: tests replace it by name
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            return accept(payload)
        except DatabaseError as error:
            if attempt < STORE_ATTEMPTS and is_transient(error):
                logger.warning(
                    "Storing an inbound message met %s; trying again", error.__cause__.sqlstate
                )
                continue
            connection.close()  # reconnect on the next message rather than reuse a broken one
            raise
    raise AssertionError("unreachable")  # the loop returns or raises


_store_in_writer = sync_to_async(_store, thread_sensitive=False, executor=_inbound_writer)


@csrf_exempt
async def braze_whatsapp(request: HttpRequest) -> JsonResponse:
    with inbound_request():
        try:
            response = await _handle(request, arrived=time.perf_counter())
        except Exception:
            WEBHOOK_REQUESTS.labels(code="500").inc()  # Django answers it with a 500
            raise
    WEBHOOK_REQUESTS.labels(code=str(response.status_code)).inc()
    return response


async def _handle(request: HttpRequest, *, arrived: float) -> JsonResponse:
    if request.method != "POST":
        return json_error(405, f"Use POST; {request.method} is not allowed here.", Allow="POST")
    if not _source_allowed(request):
        return json_error(403, "This address may not post to the webhook.")
    matched = _matching_secret(request)
    if matched is None:
        return json_error(
            401,
            "Missing or wrong credentials: send the header "
            "'Authorization: Bearer <HANDOFF_WEBHOOK_SECRET>'.",
            WWW_Authenticate='Bearer realm="handoff"',
        )
    if matched == "previous":
        previous_secret_use.record()
    too_large = json_error(
        413, f"The body is larger than {settings.HANDOFF_WEBHOOK_MAX_BYTES // 1024} KiB."
    )
    if _declared_length(request) > settings.HANDOFF_WEBHOOK_MAX_BYTES:
        return too_large
    body = request.body
    if len(body) > settings.HANDOFF_WEBHOOK_MAX_BYTES:
        return too_large
    try:
        payload = validate(parse_body(body))
    except PayloadError as error:
        return json_error(400, error.message, error.fields)
    try:
        accepted = await _store_in_writer(payload)
    except DatabaseError as error:
        # The first line only, no traceback: the database's detail lines quote the
        # row's values (PostgreSQL: "Key (external_id)=(...)"), and logs keep no
        # customer data (docs/deploy.md, "Erasing a customer").
        first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        logger.error(
            "Could not store an inbound message (%s: %s); Braze will retry it",
            type(error).__name__,
            first_line,
        )
        return json_error(
            503, "The message could not be stored right now; retry later.", Retry_After="5"
        )
    WEBHOOK_STORE_SECONDS.observe(time.perf_counter() - arrived)
    return JsonResponse(
        {
            "status": "accepted",
            "message_id": accepted.message_id,
            "conversation_id": accepted.conversation_id,
            "duplicate": accepted.duplicate,
            # The same message through a second campaign, merged into the first copy.
            "merged": accepted.merged,
        }
    )


def _matching_secret(request: HttpRequest) -> str | None:
    """Which configured secret the bearer token is: "current", "previous" (during a
    rotation, HANDOFF_WEBHOOK_SECRET_PREVIOUS) or None. Both are compared, each in
    constant time, whichever matches, so the timing tells nothing about either."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    given = token.strip().encode()
    matched = None
    for name, secret in (
        ("current", settings.HANDOFF_WEBHOOK_SECRET),
        ("previous", settings.HANDOFF_WEBHOOK_SECRET_PREVIOUS),
    ):
        equal = hmac.compare_digest(given, secret.encode())
        if secret and equal and matched is None:
            matched = name
    return matched


class PreviousSecretUse:
    """Counts webhook requests authenticated with the previous secret and says so in the
    log (the count, never the secret) at most once per `interval` seconds, so that an
    operator sees when Braze has stopped sending it and the setting can go."""

    def __init__(self, *, interval: float = 60.0, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self.count = 0
        self.noticed_at: float | None = None

    def record(self) -> None:
        self.count += 1
        now = self.clock()
        if self.noticed_at is not None and now - self.noticed_at < self.interval:
            return
        logger.warning(
            "%d webhook request(s) authenticated with HANDOFF_WEBHOOK_SECRET_PREVIOUS since "
            "the last notice: Braze still sends the old secret. Once these notices stop, "
            "remove HANDOFF_WEBHOOK_SECRET_PREVIOUS (docs/deploy.md, rotating the secret).",
            self.count,
        )
        self.count = 0
        self.noticed_at = now


# The webhook view runs on the event loop only, so one counter needs no lock.
previous_secret_use = PreviousSecretUse()


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _source_allowed(request: HttpRequest) -> bool:
    networks = _networks(tuple(settings.HANDOFF_WEBHOOK_ALLOWED_IPS))
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(ip in network for network in networks)
