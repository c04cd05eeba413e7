"""Plain SQL statements for the webhook's hot path, built once from the models' metadata.

Storing one inbound message through the ORM cost about 1.4 ms of the web process's
time, most of it compiling queries rather than running them (profiled with py-spy
under wrk), and the webhook's throughput is bounded by exactly that work. These
helpers write the same rows with SQL text built once per model and database vendor,
and values prepared by the model fields themselves (`get_db_prep_save`), so dates,
JSON and foreign keys are stored exactly as the ORM would store them.

Only standard SQL that SQLite (3.35+) and PostgreSQL both run: `RETURNING` and
`%s` placeholders, which Django's cursor adapts per backend. Model `save()` hooks
and signals do not run: use these only for models that have none.
"""

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model


@cache
def _insert_parts(model: type[Model], vendor: str) -> tuple[str, str, str, tuple[Field, ...]]:
    """`INSERT INTO table (columns)`, one row's `(%s, ...)`, `RETURNING pk`, and the
    fields whose values fill the placeholders."""
    quote = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(quote(f.column) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns})"
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return head, row, f"RETURNING {quote(model._meta.pk.column)}", fields


@cache
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, tuple[Field, ...]]:
    head, row, returning, fields = _insert_parts(model, vendor)
    return f"{head} VALUES {row} {returning}", fields


def insert(instance: Model) -> None:
    """INSERT one new row and set the instance's primary key from RETURNING."""
    sql, fields = _insert_sql(type(instance), connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias


def insert_many_statement(instances: list[Model], cursor) -> str:
    """One INSERT of new rows of one model, RETURNING their primary keys in the order
    given, with the values bound by `cursor` (for a query string sent with others,
    handoff/db/at_commit.py)."""
    head, row, returning, fields = _insert_parts(type(instances[0]), connection.vendor)
    rows = [
        cursor.mogrify(
            row, [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
        )
        for instance in instances
    ]
    return f"{head} VALUES {', '.join(rows)} {returning}"


def update_returning_pk(
    model: type[Model],
    changes: dict[str, Any],
    where: dict[str, Any],
    where_not: dict[str, Any] | None = None,
) -> int | None:
    """UPDATE the rows whose fields equal `where` (and differ from `where_not`) with
    `changes`; the primary key of the updated row, or None when none matched.

    For lookups that a unique constraint limits to one row.
    """
    row = update_returning(model, changes, where, where_not)
    return row[0] if row else None


def update_returning(
    model: type[Model],
    changes: dict[str, Any],
    where: dict[str, Any],
    where_not: dict[str, Any] | None = None,
    *,
    copy: dict[str, str] | None = None,
    returning: tuple[str, ...] = (),
) -> tuple | None:
    """As update_returning_pk, and also set each field in `copy` to another field's
    value from before this UPDATE (SQL's SET reads the old row), returning the primary
    key and the new values of the `returning` fields, converted as the ORM would.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    params = []

    def clauses(values: dict[str, Any], operator: str) -> list[str]:
        sql = []
        for name, value in values.items():
            field = meta.get_field(name)
            sql.append(f"{quote(field.column)} {operator} %s")
            params.append(field.get_db_prep_save(value, connection))
        return sql

    # Copies first: they must read the columns before `changes` assign them.
    copies = [
        f"{quote(meta.get_field(target).column)} = {quote(meta.get_field(source).column)}"
        for target, source in (copy or {}).items()
    ]
    assignments = copies + clauses(changes, "=")
    conditions = clauses(where, "=") + clauses(where_not or {}, "<>")
    fields = [meta.get_field(name) for name in returning]
    columns = ", ".join(quote(c) for c in [meta.pk.column, *(f.column for f in fields)])
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608 - names from model metadata
        f"WHERE {' AND '.join(conditions)} RETURNING {columns}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    pk, *values = rows[0]
    return (pk, *(_from_db(model, f, v) for f, v in zip(fields, values, strict=True)))


def _from_db(model: type[Model], field: Field, value: Any) -> Any:
    """A raw column value as the ORM would load it (SQLite returns datetimes as text)."""
    expression = field.get_col(model._meta.db_table)
    for converter in connection.ops.get_db_converters(expression) + field.get_db_converters(
        connection
    ):
        value = converter(value, expression, connection)
    return value
