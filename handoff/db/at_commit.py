"""Statements a transaction runs as it commits, in the same round trip as the COMMIT.

Django runs `transaction.on_commit` callbacks after the commit and offers nothing
before it. An on_commit callback that is also a `CommitsWith` gives SQL that the
PostgreSQL backend (handoff/db/postgresql) sends together with COMMIT, as one query
string: after every other statement of the transaction, with no trip back to Python
between them, so a lock that SQL takes is held only while the server runs the rest of
the string. A savepoint rolled back takes its callbacks, and so this SQL, with it, as
Django does for on_commit.
"""

from collections.abc import Sequence


class CommitsWith:
    """An on_commit callback with statements to run as its transaction commits."""

    def statements(self, cursor) -> list[str]:
        """Complete SQL statements, their values bound with `cursor.mogrify`; [] when
        another callback's statements already cover this one's."""
        raise NotImplementedError

    def took(self, results: Sequence[list[tuple]]) -> None:
        """The rows each of this callback's statements returned, in order."""
        raise NotImplementedError

    def __call__(self) -> None:
        raise NotImplementedError


def commit_with_statements(connection) -> None:
    """Commit the open transaction together with its callbacks' statements, in one
    round trip; send nothing when no callback has any (the usual COMMIT follows)."""
    pending = [
        callback
        for _savepoints, callback, _robust in list(connection.run_on_commit)
        if isinstance(callback, CommitsWith)
    ]
    if not pending:
        return
    with connection.cursor() as cursor:
        parts = [(callback, callback.statements(cursor)) for callback in pending]
        parts = [(callback, sql) for callback, sql in parts if sql]
        if not parts:
            return
        script = ";\n".join([*(statement for _, sql in parts for statement in sql), "COMMIT"])
        cursor.execute(script)
        for callback, sql in parts:
            results = []
            for _statement in sql:
                results.append(cursor.fetchall() if cursor.description else [])
                cursor.nextset()
            callback.took(results)
