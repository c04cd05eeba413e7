"""Independent reads run side by side on their own connections only where that gives
the same answer: on PostgreSQL outside a transaction; in turn on the caller's
connection inside one (another connection could not see its rows) and on SQLite."""

import threading

import pytest
from django.db import connection, transaction

from handoff.models import Team
from handoff.selectors.side_by_side import read_side_by_side


def backend() -> tuple[int, object]:
    """The thread and the database session a read ran in."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
            return threading.get_ident(), cursor.fetchone()[0]
    return threading.get_ident(), id(connection.connection)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_postgresql_reads_on_two_connections_at_once():
    Team.objects.create(name="Night")

    first, second, names = read_side_by_side(
        backend, backend, lambda: list(Team.objects.values_list("name", flat=True))
    )

    assert names == ["Night"]  # committed rows are seen from every connection
    if connection.vendor == "postgresql":
        assert first[0] == threading.get_ident()
        assert second[0] != first[0] and second[1] != first[1]
    else:
        assert first == second == backend()


@pytest.mark.django_db
def test_inside_a_transaction_the_reads_run_in_turn_on_the_callers_connection():
    with transaction.atomic():
        Team.objects.create(name="Uncommitted")
        first, second, names = read_side_by_side(
            backend, backend, lambda: list(Team.objects.values_list("name", flat=True))
        )

    assert names == ["Uncommitted"]
    assert first == second == backend()
