"""Nearest-rank medians and 90th percentiles of a queryset's values per group, taken
where the rows are: PostgreSQL's `percentile_disc` in the database, so a month of
report facts is never fetched into Python; elsewhere (SQLite) the values are fetched
and `rules.report_stats.nearest_rank` applies the same rule. Both give the same value:
`percentile_disc` returns "the first input value whose position in the ordering equals
or exceeds the specified fraction", the ⌈p·n⌉-th smallest.

Reads only; one query per call on PostgreSQL, two elsewhere (the groups with `also`,
then the values of the rows matching `when`).
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Count, Expression, F, Field, Q

from handoff.rules.report_stats import nearest_rank

FRACTIONS = {"p50": 0.5, "p90": 0.9}


class PercentilesDisc(Aggregate):
    """`percentile_disc(ARRAY[fractions]) WITHIN GROUP (ORDER BY expression)`, PostgreSQL
    only: every fraction from one sort of the group's values (one aggregate per
    fraction would sort them once each)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = Field()  # a list of floats, as the driver reads float8[]

    def __init__(self, expression, fractions: Sequence[float], **extra):
        listed = ", ".join(repr(float(fraction)) for fraction in fractions)
        super().__init__(expression, fractions=listed, **extra)


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
        aggregates = {
            f"_ranks_{name}": PercentilesDisc(
                _expression(value), list(FRACTIONS.values()), filter=when or None
            )
            for name, value in values.items()
        }
        aggregates["count"] = Count("pk", filter=when or None)
        grouped = {}
        for row in rows.values(*keys).annotate(**aggregates, **(also or {})):
            for name in values:
                ranks = row.pop(f"_ranks_{name}") or [None] * len(FRACTIONS)
                row |= {f"{name}_{rank}": v for rank, v in zip(FRACTIONS, ranks, strict=True)}
            grouped[tuple(row[key] for key in keys)] = row
        return grouped
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


def _expression(value) -> Expression:
    return F(value) if isinstance(value, str) else value
