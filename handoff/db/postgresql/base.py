"""PostgreSQL, with the statements transactions leave for their commit
(handoff/db/at_commit.py) sent in the same round trip as the COMMIT.

What needs it: the inbox feed numbers events in commit order under a lock
(live/events.py). Taken at the first event a transaction published, that lock was held
through everything the transaction did afterwards, and through every round trip of a
thread waiting for its process's GIL: at 200 agents and 20 messages a second,
PostgreSQL's own view showed a transaction waiting on it in most samples and the
webhook answered a third of a second late (docs/benchmarks.md). Taken in the commit's
own query string, it is held while the server inserts the events and commits.
"""

from django.db.backends.postgresql import base

from handoff.db.at_commit import commit_with_statements


class DatabaseWrapper(base.DatabaseWrapper):
    def _commit(self):
        if self.connection is not None:
            # When this sends the COMMIT itself, psycopg sees the connection idle and
            # the COMMIT below sends nothing.
            commit_with_statements(self)
        return super()._commit()
