"""Nearest-rank medians and 90th percentiles of a queryset's values, per group, for
several groupings at once, taken where the rows are. A month of report facts is never
fetched into Python on PostgreSQL; elsewhere (SQLite) the values are fetched and
`rules.report_stats.nearest_rank` ranks them. Both give the same value: the ⌈p·n⌉-th
smallest (PostgreSQL's `percentile_disc`: "the first input value whose position in
the ordering equals or exceeds the specified fraction").

On PostgreSQL, one query and one scan for all the groupings (`GROUPING SETS`): the
rows are sorted by value once, hashed into every grouping's groups in that order
(`array_agg` appends in input order), and each group's percentile is then read from
its array by position, with no sort per group. The reports page's summary takes its
per-kind, per-agent, per-team and per-topic figures from one such query: four scans
and four sorts per group before, 2.7 s of the month's 3 s (docs/benchmarks.md).

Reads only.
"""

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)

from handoff.rules.report_stats import nearest_rank

FRACTIONS = {"p50": 0.5, "p90": 0.9}
# The memory a ranking query may sort and hash in before spilling to disk.
WORK_MEM = "64MB"


@dataclass(frozen=True)
class Tally:
    """A plain figure asked for beside the percentiles, over all of a group's rows:
    `function` (COUNT of non-null, or SUM) of `expression`."""

    function: str
    expression: Any

    def aggregate(self):
        expression = _expression(self.expression)
        return Count(expression) if self.function == "COUNT" else Sum(expression)


def count_where(condition: Q) -> Tally:
    """How many of the group's rows match `condition`."""
    return Tally("COUNT", Case(When(condition, then=Value(1)), output_field=IntegerField()))


def count_of(field: str) -> Tally:
    """How many of the group's rows have `field` set."""
    return Tally("COUNT", field)


def sum_of(field: str) -> Tally:
    return Tally("SUM", field)


def ranked(
    rows,
    groupings: Sequence[tuple[str, ...]],
    value: Any,
    *,
    when: Q | None = None,
    also: Mapping[str, Tally] | None = None,
) -> dict[tuple[str, ...], dict[tuple, dict[str, Any]]]:
    """For each grouping (a tuple of field names) and each of its groups (a tuple of
    those fields' values): "count" of the rows matching `when`, "p50" and "p90" of
    `value` (a field name or an expression) over them, and each `also` tally over all
    the group's rows. Every group of `rows` is present, even one that no row matching
    `when` falls into (count 0, percentiles None)."""
    rows = rows.order_by()
    when = when if when is not None else Q()
    also = also or {}
    if connections[rows.db].vendor == "postgresql":
        return _in_postgresql(rows, groupings, value, when, also)
    return _in_python(rows, groupings, value, when, also)


def _in_python(rows, groupings, value, when, also):
    fields = list(dict.fromkeys(field for grouping in groupings for field in grouping))
    result: dict[tuple[str, ...], dict[tuple, dict[str, Any]]] = {}
    tallies = {name: tally.aggregate() for name, tally in also.items()} or {"_rows": Count("pk")}
    for grouping in groupings:
        found = {}
        for row in rows.values(*grouping).annotate(**tallies):
            row.pop("_rows", None)
            found[tuple(row[field] for field in grouping)] = row
        result[grouping] = found
    measured: dict[tuple[str, ...], dict[tuple, list]] = {g: defaultdict(list) for g in groupings}
    for row in rows.filter(when).annotate(_value=_expression(value)).values_list(*fields, "_value"):
        by_field = dict(zip(fields, row, strict=False))
        for grouping in groupings:
            measured[grouping][tuple(by_field[field] for field in grouping)].append(row[-1])
    for grouping, found in result.items():
        for key, row in found.items():
            taken = measured[grouping].get(key, [])
            row["count"] = len(taken)
            column = [each for each in taken if each is not None]
            for rank, fraction in FRACTIONS.items():
                row[rank] = nearest_rank(column, fraction)
    return result


def _in_postgresql(rows, groupings, value, when, also):
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    fields = list(dict.fromkeys(field for grouping in groupings for field in grouping))
    inner = (
        rows.annotate(
            _value=_expression(value),
            _matches=ExpressionWrapper(when if when else Q(pk__isnull=False), BooleanField()),
            **{f"_also_{name}": _expression(tally.expression) for name, tally in also.items()},
        )
        .values(*fields, "_value", "_matches", *(f"_also_{name}" for name in also))
        .order_by("_value")
    )
    inner_sql, params = inner.query.sql_with_params()
    every = ", ".join(quote(field) for field in fields)
    tallies = "".join(
        f", {tally.function}({quote('_also_' + name)}) AS {quote(name)}"
        for name, tally in also.items()
    )
    sets = ", ".join("(" + ", ".join(quote(field) for field in g) + ")" for g in groupings)
    grouped = (
        f"SELECT {every}, GROUPING({every}) AS _grouping, "  # noqa: S608 - our names
        "COUNT(*) FILTER (WHERE _matches) AS count, "
        "ARRAY_AGG(_value) FILTER (WHERE _matches AND _value IS NOT NULL) AS _values"
        f"{tallies} FROM ({inner_sql}) AS facts GROUP BY GROUPING SETS ({sets})"
    )
    by_position = ", ".join(
        f"_values[GREATEST(CEIL({fraction}::float8 * CARDINALITY(_values))::int, 1)] AS {rank}"
        for rank, fraction in FRACTIONS.items()
    )
    sorting = (
        f"(SELECT PERCENTILE_DISC(ARRAY[{', '.join(map(repr, FRACTIONS.values()))}]) "  # noqa: S608
        "WITHIN GROUP (ORDER BY each) FROM UNNEST(_values) AS each) AS _ranks"
    )
    names = f"{every}, _grouping, count{''.join(', ' + quote(name) for name in also)}"
    with transaction.atomic(using=rows.db), connection.cursor() as cursor:
        # For this transaction only: the month's hashed arrays and its sort fit in
        # memory (at the default 4 MB both spilled to disk, the hashing in 12 batches),
        # and no JIT compilation (about 70 ms a query at these plan costs, for a plan
        # that runs once): 7 to 10 % of the month's summary (docs/benchmarks.md).
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute("SET LOCAL jit = off")
        in_order = _hashes_in_input_order(cursor, grouped, params)
        ranks = by_position if in_order else sorting
        cursor.execute(f"SELECT {names}, {ranks} FROM ({grouped}) AS grouped", params)  # noqa: S608
        columns = [column.name for column in cursor.description]
        found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    masks = {_mask(fields, grouping): grouping for grouping in groupings}
    result: dict[tuple[str, ...], dict[tuple, dict[str, Any]]] = {g: {} for g in groupings}
    for row in found:
        grouping = masks[row.pop("_grouping")]
        if not in_order:
            ranks_found = row.pop("_ranks") or [None] * len(FRACTIONS)
            row |= dict(zip(FRACTIONS, ranks_found, strict=True))
        for field in fields:
            if field not in grouping:
                del row[field]
        result[grouping][tuple(row[field] for field in grouping)] = row
    return result


def _hashes_in_input_order(cursor, grouped: str, params) -> bool:
    """Whether PostgreSQL plans `grouped` as one hash aggregation straight over the
    sorted rows: then each group's array holds its values in the rows' order, already
    sorted (PostgreSQL's manual: "supplying the input values from a sorted subquery
    will usually work", failing only where the outer level reorders, as a join or a
    sort by the group's keys would). Parallel workers may sort parts of the rows, as
    long as their streams are merged in order (Gather Merge) before the hashing, never
    gathered as they come or aggregated in parts. Any other plan (hash aggregation
    turned off, a sort-based grouping) makes the caller sort each group's values."""
    cursor.execute(f"EXPLAIN (FORMAT JSON) {grouped}", params)
    plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top = plan[0]["Plan"]
    if top.get("Node Type") != "Aggregate" or top.get("Strategy") != "Hashed":
        return False
    below = top.get("Plans", [])
    return len(below) == 1 and not _plan_nodes(below[0]) & {"Gather", "Aggregate"}


def _plan_nodes(node: dict) -> set[str]:
    found = {node.get("Node Type")}
    for child in node.get("Plans", []):
        found |= _plan_nodes(child)
    return found


def _mask(fields: list[str], grouping: tuple[str, ...]) -> int:
    """GROUPING(fields...) of a row of `grouping`: a bit per field, the first field
    highest, set where the field is not one of the grouping's."""
    width = len(fields)
    return sum(1 << (width - 1 - index) for index, f in enumerate(fields) if f not in grouping)


def _expression(value) -> Expression:
    return F(value) if isinstance(value, str) else value
