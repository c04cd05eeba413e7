"""Shared fixtures: the stand-in Braze, the app under daphne, and small builders."""

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.utils import translation

from tests.devtools.braze_standin import BrazeStandin
from tests.support.servers import BRAZE_API_KEY, AppServer, server_env

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


SERVER_FIXTURES = {"live", "app_server"}

# Figures tests measure (not assert), shown after the run: pytest hides a passing
# test's output, and these belong in the log of every CI run.
REPORTED: list[str] = []


@pytest.fixture
def report():
    """report("...") adds a line to the "figures" section at the end of the run."""
    return REPORTED.append


def pytest_terminal_summary(terminalreporter):
    if REPORTED:
        terminalreporter.section("figures")
        for line in REPORTED:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the test, so fixtures can keep evidence of a
    failure (the browser tab saves a screenshot and the page's HTML)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Run tests against the app under daphne last.

    The server's background workers poll the shared test database from the moment it
    starts; in-process tests that create pending work must run before that, or the
    server may route or deliver their rows first.
    """
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
    items.sort(key=lambda item: item.get_closest_marker("server") is not None)


@pytest.fixture(scope="session", autouse=True)
def release_the_test_database(django_db_setup, django_db_blocker):
    """On PostgreSQL, end the sessions other processes and threads left on the test
    database (a server's connection outlives its process by a moment), so that
    dropping it at the end of the run does not fail with "being accessed by other
    users"."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def events_numbered_at_once_in_rolled_back_tests(request, monkeypatch):
    """On PostgreSQL the feed numbers an event as its transaction commits
    (handoff/live/events.py). A test inside one transaction that is rolled back at its
    end never commits: number its events at once, so that it can read them."""
    from handoff.live import events

    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    )
    if not transactional:
        monkeypatch.setattr(events, "NUMBER_AT_COMMIT", False)


@pytest.fixture(autouse=True)
def back_to_the_default_language():
    """A request through Django's test client with `Accept-Language: ja` leaves Japanese
    active in this thread (LocaleMiddleware never switches back); the next test's lazy
    texts would then be Japanese. Each test starts from LANGUAGE_CODE instead."""
    yield
    translation.deactivate()


@pytest.fixture
def braze():
    """A fresh stand-in Braze per test."""
    with BrazeStandin(api_key=BRAZE_API_KEY) as standin:
        yield standin


@pytest.fixture(scope="session")
def session_braze():
    with BrazeStandin(api_key=BRAZE_API_KEY) as standin:
        yield standin


@pytest.fixture(scope="session")
def app_server(django_db_setup, django_db_blocker, session_braze):
    """The app under daphne, sharing the test database file, for the whole session."""
    from django.db import connection

    ARTIFACTS.mkdir(exist_ok=True)
    server = AppServer(
        server_env(connection.settings_dict, session_braze.url),
        ARTIFACTS / "daphne.log",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def live(app_server, session_braze, transactional_db):
    """A running server with a clean database and a clean stand-in for this test."""
    session_braze.set_behaviour("ok")
    session_braze.clear()
    yield app_server
    # Let the server's workers finish what this test started before the flush.
    time.sleep(0.2)
    empty_tables_beside_running_workers()


def empty_tables_beside_running_workers(attempts: int = 10) -> None:
    """The server's workers may still write (a retry coming due) while pytest-django
    flushes the database after the test. On PostgreSQL the flush's TRUNCATE can then
    deadlock with them: PostgreSQL cancels one side, the teardown fails, and the test's
    rows are left to the next test. So empty the tables first, again when PostgreSQL
    chose the flush as the deadlock's victim; pytest-django's own flush then finds
    nothing left to fight over."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    for attempt in range(attempts):
        try:
            call_command(
                "flush",
                interactive=False,
                verbosity=0,
                inhibit_post_migrate=True,
                reset_sequences=False,  # as pytest-django's own flush: numbers keep growing
            )
            return
        except CommandError as error:
            if "deadlock detected" not in str(error.__cause__) or attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


@pytest.fixture
def fresh_channel_layer():
    """The in-memory layer's queues belong to the loop that used them: one per test
    that drives sockets in its own loop (tests/support/inbox_socket.py)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def agents_group(db):
    group, _ = Group.objects.get_or_create(name="Agents")
    group.permissions.add(Permission.objects.get(codename="answer_conversations"))
    return group


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")
