"""The webhook stores again when PostgreSQL rolled its transaction back for a deadlock
or a serialisation failure, and answers 503 for any other database error.

The failures are PostgreSQL's own exception classes (psycopg's), raised the way Django
raises them (a django.db error caused by the driver's), from the one call the webhook
makes; the real deadlock is a race of two processes that cannot be scheduled here.
"""

import psycopg.errors
import pytest
from django.db import OperationalError

from handoff.rules.payloads import validate
from handoff.web import webhook
from tests.support.factories import webhook_body


def database_error(cause: Exception) -> OperationalError:
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as error:
        return error


class FailingFirst:
    """An accept_inbound that fails with the given errors, then succeeds."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, payload):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "stored"


@pytest.fixture
def payload():
    return validate(webhook_body("u-retry", "my invoice is wrong"))


@pytest.mark.parametrize(
    "cause",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ],
    ids=["deadlock", "serialization"],
)
def test_a_transaction_rolled_back_for_another_is_stored_again(payload, cause):
    accept = FailingFirst(database_error(cause))

    assert webhook._store(payload, accept=accept) == "stored"
    assert accept.calls == 2


def test_it_gives_up_after_three_tries(payload):
    deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
    accept = FailingFirst(*(database_error(deadlock) for _ in range(3)))

    with pytest.raises(OperationalError):
        webhook._store(payload, accept=accept)
    assert accept.calls == 3


def test_any_other_database_error_is_not_retried(payload):
    accept = FailingFirst(database_error(psycopg.errors.UniqueViolation("duplicate key")))

    with pytest.raises(OperationalError):
        webhook._store(payload, accept=accept)
    assert accept.calls == 1
