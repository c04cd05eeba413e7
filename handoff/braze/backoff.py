"""How long to wait before asking Braze again after a failure it may recover from.

Shared by message delivery and profile sync: both retry 5xx answers and network
failures on the same schedule (HANDOFF_RETRY_BASE_SECONDS doubling up to
HANDOFF_RETRY_MAX_SECONDS), unless Braze names its own time (a 429's reset).
"""

import random

from django.conf import settings


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, capped.

    Jitter spreads the retries of many customers' messages after a Braze outage so
    they do not all arrive at once when it recovers.
    """
    base = settings.HANDOFF_RETRY_BASE_SECONDS
    cap = settings.HANDOFF_RETRY_MAX_SECONDS
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return delay / 2 + (rng or random).uniform(0, delay / 2)
