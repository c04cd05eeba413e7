"""Reads that do not depend on each other, run at once on separate database
connections: PostgreSQL runs one query on one core (a hashed `array_agg` is never
split among parallel workers before PostgreSQL 16), so the reports page's two heavy
halves take half the time side by side on a server with cores to spare
(docs/benchmarks.md, "Reports").

Only where that is sound: on PostgreSQL, and outside a transaction, since another
connection cannot see what the caller's open transaction wrote (a test's, or a
caller's `atomic` block); then the reads run one after the other, on the caller's
connection, with the same result.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection, connections


def read_side_by_side(*reads: Callable[[], Any]) -> list[Any]:
    """Each read's result, in order; the first runs on the caller's thread."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or len(reads) < 2:
        return [read() for read in reads]
    with ThreadPoolExecutor(max_workers=len(reads) - 1) as pool:
        others = [pool.submit(_on_its_own_connection, read) for read in reads[1:]]
        first = reads[0]()
        return [first, *(future.result() for future in others)]


def _on_its_own_connection(read: Callable[[], Any]) -> Any:
    try:
        return read()
    finally:
        connections.close_all()  # this worker thread's connections, not the caller's
