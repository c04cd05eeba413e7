"""Leases on message rows: how a worker takes a row so that no other worker does.

Routing and delivery both take the oldest unfinished message of a customer ("head of
line": no earlier unfinished message of the same customer exists) and claim it with
a conditional UPDATE that sets `claimed_until`; a row whose lease has lapsed (its
worker was killed) is claimable again. Any number of threads and processes can
compete: the database lets exactly one UPDATE match.

On PostgreSQL the choice and the claim are one statement that locks the row it picks
with FOR UPDATE SKIP LOCKED: competing workers each take a different row at once
instead of queueing on the same one, and a claim is one round trip.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet

from handoff.models import Message

CANDIDATES = 5


def unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim_head_of_line(
    *,
    state_field: str,
    states: tuple[str, ...],
    now: datetime,
    rows: QuerySet[Message],
    due_field: str | None = None,
) -> Message | None:
    """Lease the oldest (or earliest due) unclaimed head-of-line message in `states`."""
    if connection.vendor == "postgresql":
        pk = _claim_skip_locked(
            state_field=state_field, states=states, now=now, due_field=due_field
        )
        # None too if the row was erased between the claim and this read.
        return rows.filter(pk=pk).first() if pk is not None else None
    candidates = head_of_line_ids(
        state_field=state_field, states=states, now=now, due_field=due_field
    )
    return claim_first(
        candidates,
        still_claimable=Q(**{f"{state_field}__in": states}),
        now=now,
        rows=rows,
    )


def _claim_skip_locked(
    *, state_field: str, states: tuple[str, ...], now: datetime, due_field: str | None
) -> int | None:
    """PostgreSQL: pick and lease in one UPDATE; rows other claimers hold are skipped.

    Under READ COMMITTED the locked row's conditions are checked again on its newest
    version, so a row another worker leased or finished a moment ago is never taken.
    """
    quote = connection.ops.quote_name
    table, state = quote(Message._meta.db_table), quote(state_field)
    in_states = ", ".join(["%s"] * len(states))
    due = f"AND m.{quote(due_field)} <= %s" if due_field else ""
    order = f"m.{quote(due_field)}, m.id" if due_field else "m.id"
    lease = now + timedelta(seconds=settings.HANDOFF_CLAIM_SECONDS)
    sql = (
        f"UPDATE {table} SET claimed_until = %s WHERE id = ("  # noqa: S608 - names quoted
        f"SELECT m.id FROM {table} m WHERE m.{state} IN ({in_states}) {due} "
        "AND (m.claimed_until IS NULL OR m.claimed_until < %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.contact_id = m.contact_id "
        f"AND e.{state} IN ({in_states}) AND e.id < m.id) "
        f"ORDER BY {order} LIMIT 1 FOR UPDATE OF m SKIP LOCKED) RETURNING id"
    )
    params = [lease, *states, *([now] if due_field else []), now, *states]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def head_of_line_ids(
    *, state_field: str, states: tuple[str, ...], now: datetime, due_field: str | None = None
) -> list[int]:
    """Ids of unclaimed messages in `states` that are first in line for their customer.

    Written in SQL because workers run it on every poll and after every message: the
    query itself takes ~25 µs on SQLite, Django's compilation of the same query with
    its correlated subquery took ~1 ms. Names come from this module, never from input.
    """
    quote = connection.ops.quote_name
    table, state = quote(Message._meta.db_table), quote(state_field)
    in_states = ", ".join(["%s"] * len(states))
    stamp = connection.ops.adapt_datetimefield_value(now)
    due = f"AND m.{quote(due_field)} <= %s" if due_field else ""
    order = f"m.{quote(due_field)}, m.id" if due_field else "m.id"
    sql = (
        f"SELECT m.id FROM {table} m "  # noqa: S608 - identifiers quoted, values bound
        f"WHERE m.{state} IN ({in_states}) {due} "
        "AND (m.claimed_until IS NULL OR m.claimed_until < %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.contact_id = m.contact_id "
        f"AND e.{state} IN ({in_states}) AND e.id < m.id) "
        f"ORDER BY {order} LIMIT {CANDIDATES}"
    )
    params = [*states, *([stamp] if due_field else []), stamp, *states]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def claim_first(
    candidate_ids: list[int], *, still_claimable: Q, now: datetime, rows: QuerySet[Message]
) -> Message | None:
    """Lease the first candidate that still matches `still_claimable`; load it from `rows`."""
    lease = now + timedelta(seconds=settings.HANDOFF_CLAIM_SECONDS)
    for pk in candidate_ids:
        taken = (
            Message.objects.filter(still_claimable, pk=pk)
            .filter(unclaimed(now))
            .update(claimed_until=lease)
        )
        if taken and (row := rows.filter(pk=pk).first()) is not None:
            return row  # (a row erased since its claim is passed over)
    return None
