"""A process-wide pause after Braze answers 429, until its X-RateLimit-Reset time.

Braze's rate limits are per API key and endpoint, so one 429 means every thread of
this process should stop calling that endpoint, not only the one that got it: each
endpoint we call (sends, /users/track) keeps one of these.
"""

import threading
from datetime import datetime


class RatePause:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: datetime | None = None

    def until(self) -> datetime | None:
        with self._lock:
            return self._until

    def is_active(self, now: datetime) -> bool:
        until = self.until()
        return until is not None and until > now

    def extend(self, until: datetime) -> None:
        """Pause until `until`, unless a longer pause is already in force."""
        with self._lock:
            if self._until is None or until > self._until:
                self._until = until
