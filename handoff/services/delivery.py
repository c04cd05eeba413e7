"""Background delivery: sending queued messages to Braze, in order, until they go or fail.

The message row is the record of what must still be sent (`queued`/`retrying` with
`next_attempt_at`); workers find due rows by query, so nothing depends on a queue
surviving a restart. A worker claims a row with a lease before sending, and only
the oldest unsent message of a customer is ever claimable, so a later message can
never overtake an earlier one, even across processes.

Delivery is at least once: if the process dies after Braze accepted a message but
before the row says so, the lease lapses and the message is sent again.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from handoff.braze.backoff import backoff_seconds
from handoff.braze.client import BrazeClient, BrazeNotConfigured, Outcome, SendResult
from handoff.braze.rate_pause import RatePause
from handoff.jobs import wakeups
from handoff.jobs.claims import claim_head_of_line
from handoff.live.events import publish_delivery_changed
from handoff.models import BrazeCampaign, ConversationEvent, Message
from handoff.rules import service_window
from handoff.services.transitions import record_event
from handoff.telemetry import log_context, metrics

logger = logging.getLogger(__name__)

Delivery = Message.Delivery

# Braze's rate limit is per API key, so one 429 pauses every send from this process.
_rate_pause = RatePause()


def claim_next_outbound() -> Message | None:
    """Claim the oldest due message whose customer has no earlier unsent message."""
    now = timezone.now()
    if _rate_pause.is_active(now):
        return None
    return claim_head_of_line(
        state_field="delivery_state",
        states=tuple(Message.PENDING_DELIVERY),
        now=now,
        due_field="next_attempt_at",
        rows=Message.objects.select_related("contact", "campaign"),
    )


def deliver_next(client: BrazeClient) -> bool:
    """Send one due message; False when none was due."""
    message = claim_next_outbound()
    if message is None:
        return False
    with log_context.working_on(message.conversation_id):
        deliver(message, client)
    return True


def deliver(message: Message, client: BrazeClient) -> None:
    """Send one claimed message: plain text through the settings' reply campaign, or
    a campaign message with its own trigger properties.

    Free text and response campaigns need the 24-hour window still open when they
    leave (Braze would accept them and WhatsApp drop them: fail visibly instead); a
    template campaign may go any time.
    """
    campaign = message.campaign
    needs_window = campaign is None or campaign.kind == BrazeCampaign.Kind.RESPONSE
    if needs_window and not service_window.is_open(message.contact):
        record_result(
            message,
            SendResult(Outcome.REJECTED, error=service_window.closed_reason(message.contact)),
        )
        return
    if campaign is None:
        campaign_id = settings.BRAZE_CAMPAIGN_ID
        properties = {settings.BRAZE_MESSAGE_PROPERTY: message.text}
    else:
        campaign_id = campaign.campaign_id
        properties = dict(message.campaign_properties)
    started = time.perf_counter()
    try:
        result = client.trigger_send(
            campaign_id=campaign_id,
            external_user_id=message.contact.external_id,
            properties=properties,
        )
    except BrazeNotConfigured as error:
        # Not the message's fault: keep it, so it goes out once the settings are fixed.
        result = SendResult(Outcome.RETRY, error=str(error))
    else:
        metrics.braze_request(
            endpoint=metrics.MESSAGES,
            outcome=result.outcome.value,
            seconds=time.perf_counter() - started,
        )
    record_result(message, result)


@transaction.atomic
def record_result(message: Message, result: SendResult) -> None:
    """Write what Braze said onto the row, and decide when (or whether) to try again."""
    now = timezone.now()
    message.attempts += 1
    message.claimed_until = None
    message.last_error = result.error
    if result.outcome is Outcome.ACCEPTED:
        message.delivery_state = Delivery.SENT
        message.dispatch_id = result.dispatch_id
        message.sent_at = now
        message.next_attempt_at = None
    elif result.outcome is Outcome.REJECTED:
        message.delivery_state = Delivery.FAILED
        message.next_attempt_at = None
    elif _expired(message, now):
        message.delivery_state = Delivery.FAILED
        message.next_attempt_at = None
        message.last_error = (
            f"Gave up after {message.attempts} attempts over "
            f"{_hours(settings.HANDOFF_DELIVERY_MAX_AGE)}: {result.error}"
        )
    else:
        message.delivery_state = Delivery.RETRYING
        if result.outcome is Outcome.RATE_LIMITED:
            retry_at = result.retry_at or now + timedelta(seconds=backoff_seconds(message.attempts))
            retry_at = max(retry_at, now)
            _rate_pause.extend(retry_at)
            metrics.BRAZE_RATE_LIMIT_PAUSES.labels(endpoint=metrics.MESSAGES).inc()
        else:
            retry_at = now + timedelta(seconds=backoff_seconds(message.attempts))
        message.next_attempt_at = retry_at
    fields = (
        "attempts",
        "claimed_until",
        "last_error",
        "delivery_state",
        "dispatch_id",
        "sent_at",
        "next_attempt_at",
    )
    if not Message.objects.filter(pk=message.pk).update(**{f: getattr(message, f) for f in fields}):
        # Erased (handoff.services.erasure) while Braze had it: nothing left to record.
        logger.info("Message %s was erased while being sent; its result is dropped", message.pk)
        return
    publish_delivery_changed(message)
    if message.delivery_state == Delivery.SENT:
        logger.info("Message %s sent", message.pk)
        # Hop 4 for /metrics: queued -> accepted by Braze, retries included.
        queued_at, sent_at = message.queued_at, message.sent_at
        transaction.on_commit(
            lambda: metrics.observe_between(metrics.DELIVERY_DELAY_SECONDS, queued_at, sent_at)
        )
    elif message.delivery_state == Delivery.FAILED:
        logger.warning("Message %s failed: %s", message.pk, message.last_error)
        record_event(
            conversation=message.conversation,
            kind=ConversationEvent.Kind.DELIVERY_FAILED,
            actor_kind=Message.AuthorKind.SYSTEM,
            data={"message_id": message.pk, "error": message.last_error},
        )
    elif message.delivery_state == Delivery.RETRYING:
        logger.info(
            "Message %s will be retried at %s: %s",
            message.pk,
            message.next_attempt_at,
            result.error,
        )


def _expired(message: Message, now: datetime) -> bool:
    started = message.queued_at or message.created_at
    return now - started > timedelta(seconds=settings.HANDOFF_DELIVERY_MAX_AGE)


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g} h"


@transaction.atomic
def retry_by_hand(*, message_id: int, actor: AbstractBaseUser | None = None) -> bool:
    """Queue a failed message again (after its cause was fixed); False if it was not failed.

    Its age counts from now, so it gets the full retry window again. It is sent as
    soon as the customer has no earlier unsent message, so it may arrive after
    messages queued while it lay failed.
    """
    now = timezone.now()
    updated = Message.objects.filter(pk=message_id, delivery_state=Delivery.FAILED).update(
        delivery_state=Delivery.QUEUED, queued_at=now, next_attempt_at=now, claimed_until=None
    )
    if not updated:
        return False
    message = Message.objects.select_related("conversation").get(pk=message_id)
    publish_delivery_changed(message)
    record_event(
        conversation=message.conversation,
        kind=ConversationEvent.Kind.DELIVERY_RETRIED,
        actor=actor,
        actor_kind=Message.AuthorKind.AGENT if actor else Message.AuthorKind.SYSTEM,
        data={"message_id": message.pk, "previous_error": message.last_error},
    )
    wakeups.wake_after_commit(wakeups.DELIVERY)
    return True
