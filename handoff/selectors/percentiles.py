"""Nearest-rank medians and 90th percentiles of a queryset's values per group, taken
where the rows are: PostgreSQL's `percentile_disc` in the database, so a month of
report facts is never fetched into Python; elsewhere (SQLite) the values are fetched
and `rules.report_stats.nearest_rank` applies the same rule. Both give the same value:
`percentile_disc` returns "the first input value whose position in the ordering equals
or exceeds the specified fraction", the ⌈p·n⌉-th smallest.

Reads only; one query per call on PostgreSQL (the ORM's grouping, wrapped in the
ranking: raw SQL around the ORM's own, as Django has no `FROM (subquery)`), two
elsewhere (the groups with `also`, then the values of the rows matching `when`).
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Count, Expression, F, Field, Q

from handoff.rules.report_stats import nearest_rank

FRACTIONS = {"p50": 0.5, "p90": 0.9}


class ArrayOf(Aggregate):
    """`array_agg(expression)`: a group's values, collected while hashing the rows into
    their groups (PostgreSQL; the driver reads the array as a list)."""

    function = "ARRAY_AGG"
    output_field = Field()


# Nearest rank of the values collected for a group: one sort of that group's values
# gives every fraction.
RANKS = (
    "(SELECT PERCENTILE_DISC(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY value) "
    "FROM UNNEST(grouped.{column}) AS value) AS {alias}"
)


def spread(
    rows,
    keys: Sequence[str],
    values: Mapping[str, Any],
    *,
    when: Q | None = None,
    also: Mapping[str, Aggregate] | None = None,
) -> dict[tuple, dict[str, Any]]:
    """Per group of `keys`: "count" of the rows matching `when`, "<value>_p50" and
    "<value>_p90" of each of `values` (expressions) over those rows, and each aggregate
    of `also` over all the group's rows. Every group of `rows` is present, even one
    that no row matching `when` falls into (its count 0, its percentiles None)."""
    rows = rows.order_by()
    when = when if when is not None else Q()
    if connections[rows.db].vendor == "postgresql":
        return _hashed(rows, keys, values, when, also or {})
    names = list(values)
    found: dict[tuple, dict[str, Any]] = {}
    for row in rows.values(*keys).annotate(**(also or {"_rows": Count("pk")})):
        found[tuple(row[key] for key in keys)] = row
    measured: dict[tuple, list[tuple]] = defaultdict(list)
    for row in (
        rows.filter(when)
        .annotate(**{f"_value_{name}": _expression(value) for name, value in values.items()})
        .values_list(*keys, *(f"_value_{name}" for name in names))
    ):
        measured[tuple(row[: len(keys)])].append(row[len(keys) :])
    for key, row in found.items():
        row.pop("_rows", None)
        taken = measured.get(key, [])
        row["count"] = len(taken)
        for index, name in enumerate(names):
            column = [each[index] for each in taken if each[index] is not None]
            for rank, fraction in FRACTIONS.items():
                row[f"{name}_{rank}"] = nearest_rank(column, fraction)
    return found


def _hashed(rows, keys, values, when, also) -> dict[tuple, dict[str, Any]]:
    """Group by hashing, collecting each group's values with array_agg, then rank each
    group's array. `percentile_disc` over the rows directly would make PostgreSQL sort
    every row by its group first (an ordered-set aggregate cannot be hashed): on the
    bench's month that sort was 250 to 360 ms of each breakdown's 450 to 600."""
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    matching = when or None
    grouped = rows.values(*keys).annotate(
        count=Count("pk", filter=matching),
        **{
            f"_values_{name}": ArrayOf(_expression(value), filter=matching)
            for name, value in values.items()
        },
        **also,
    )
    inner, params = grouped.query.sql_with_params()
    fractions = ", ".join(repr(fraction) for fraction in FRACTIONS.values())
    columns = [f"grouped.{quote(name)}" for name in (*keys, "count", *also)]
    columns += [
        RANKS.format(
            fractions=fractions, column=quote(f"_values_{name}"), alias=quote(f"_ranks_{name}")
        )
        for name in values
    ]
    # Our quoted names around the ORM's SQL; every value is one of its parameters.
    sql = f"SELECT {', '.join(columns)} FROM ({inner}) AS grouped"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    result = {}
    for row in found:
        for name in values:
            ranks = row.pop(f"_ranks_{name}") or [None] * len(FRACTIONS)
            row |= {f"{name}_{rank}": v for rank, v in zip(FRACTIONS, ranks, strict=True)}
        result[tuple(row[key] for key in keys)] = row
    return result


def _expression(value) -> Expression:
    return F(value) if isinstance(value, str) else value
