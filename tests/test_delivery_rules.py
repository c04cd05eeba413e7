"""The pure rules of delivery: how Braze's answers are read, backoff, giving up."""

import random
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from handoff.braze.backoff import backoff_seconds
from handoff.braze.client import BrazeClient, Outcome, SendResult, classify
from handoff.models import Message
from handoff.services.delivery import deliver, record_result
from handoff.services.outbound import queue_outbound
from tests.support.factories import make_conversation


def response(status: int, body: bytes = b"{}", headers: dict | None = None) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result._content = body
    result.headers.update(headers or {})
    return result


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_is_accepted_with_its_dispatch_id(status):
    result = classify(response(status, b'{"dispatch_id": "d-1", "message": "queued"}'))
    assert result.outcome is Outcome.ACCEPTED
    assert result.dispatch_id == "d-1"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_rejected_with_brazes_own_message(status):
    result = classify(response(status, b'{"message": "Invalid Campaign ID", "errors": ["x"]}'))
    assert result.outcome is Outcome.REJECTED
    assert result.error == f"Braze answered {status}: Invalid Campaign ID (['x'])"


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_and_timeouts_are_retried(status):
    assert classify(response(status, b"<html>oops</html>")).outcome is Outcome.RETRY


def test_rate_limit_reads_the_reset_time():
    reset = int(timezone.now().timestamp()) + 30
    result = classify(
        response(429, b'{"message": "Rate Limited"}', {"x-ratelimit-reset": str(reset)})
    )
    assert result.outcome is Outcome.RATE_LIMITED
    assert int(result.retry_at.timestamp()) == reset


def test_unreachable_braze_is_retried_and_the_key_never_appears_in_the_error():
    client = BrazeClient(endpoint="http://127.0.0.1:9", api_key="sekret-key", connect_timeout=1)
    result = client.trigger_send(campaign_id="c", external_user_id="u", properties={"p": "t"})
    assert result.outcome is Outcome.RETRY
    assert "sekret-key" not in result.error and "sekret-key" not in repr(client)


def test_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    settings.HANDOFF_RETRY_BASE_SECONDS = 2
    settings.HANDOFF_RETRY_MAX_SECONDS = 60
    rng = random.Random(1)
    for attempts, full in [(1, 2), (2, 4), (3, 8), (4, 16), (10, 60), (50, 60)]:
        delays = [backoff_seconds(attempts, rng=rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10, "no jitter"


@pytest.mark.django_db
def test_a_message_older_than_the_maximum_age_fails_instead_of_retrying(settings):
    settings.HANDOFF_DELIVERY_MAX_AGE = 3600
    message = queue_outbound(conversation=make_conversation(), text="late", author_kind="bot")
    Message.objects.filter(pk=message.pk).update(queued_at=timezone.now() - timedelta(hours=2))
    message.refresh_from_db()

    record_result(message, SendResult(Outcome.RETRY, status=503, error="Braze answered 503: down"))

    message.refresh_from_db()
    assert message.delivery_state == Message.Delivery.FAILED
    assert message.last_error.startswith("Gave up after 1 attempts over 1 h")


@pytest.mark.django_db
def test_missing_braze_settings_keep_the_message_retrying_with_the_reason(settings):
    settings.BRAZE_REST_ENDPOINT = ""
    message = queue_outbound(conversation=make_conversation(), text="hi", author_kind="bot")

    deliver(Message.objects.select_related("contact").get(pk=message.pk), BrazeClient())

    message.refresh_from_db()
    assert message.delivery_state == Message.Delivery.RETRYING
    assert "BRAZE_REST_ENDPOINT" in message.last_error
