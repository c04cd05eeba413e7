"""Database functions the ORM lacks, written per engine."""

from django.db.models import Func, IntegerField


class QuarterHour(Func):
    """The quarter hour an instant falls in, counted from the Unix epoch (UTC): the
    grain that groups instants for any time zone, since every zone's offset is a whole
    number of quarter hours. Grouping by it costs a third of grouping by the local
    weekday and hour, which converts every row to the zone (docs/benchmarks.md)."""

    SECONDS = 900
    arity = 1
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template=f"FLOOR(DATE_PART('epoch', %(expressions)s) / {self.SECONDS})::bigint",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite stores instants as UTC text; strftime('%s') reads it as whole seconds.
        return self.as_sql(
            compiler,
            connection,
            template=f"(CAST(STRFTIME('%%%%s', %(expressions)s) AS INTEGER) / {self.SECONDS})",
            **extra,
        )
