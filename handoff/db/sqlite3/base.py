"""SQLite with writers of one process queued on a lock instead of SQLite's busy wait.

SQLite admits one writer at a time. A second writer waits in SQLite's busy handler,
which sleeps in growing steps of up to 100 ms between tries: with the webhook and the
background workers writing in one process (the default), those sleeps, not the work,
made the webhook's tail latency. Here writers of the same process queue on a Python
lock that hands over the moment the holder commits. Writers in other processes still
meet at SQLite's own lock and busy timeout.

The lock is held from BEGIN to COMMIT/ROLLBACK, so a transaction must never wait on
the network: services call Braze and the bot outside transactions.
"""

import threading

from django.db.backends.sqlite3 import base

_write_lock = threading.Lock()
_WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLAC")


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def _start_transaction_under_autocommit(self) -> None:
        # transaction_mode=IMMEDIATE: every atomic block is a write transaction.
        _write_lock.acquire()
        self._holds_write_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            _write_lock.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=LockingCursorWrapper)


class LockingCursorWrapper(base.SQLiteCursorWrapper):
    """A single write statement outside a transaction (autocommit) takes the lock too."""

    def execute(self, query, params=None):
        if not self.connection.in_transaction and _is_write(query):
            with _write_lock:
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query, param_list):
        if not self.connection.in_transaction and _is_write(query):
            with _write_lock:
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)


def _is_write(query: str) -> bool:
    return query.lstrip()[:6].upper().startswith(_WRITE_STATEMENTS)
