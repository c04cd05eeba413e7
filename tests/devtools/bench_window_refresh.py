"""What keeping the window-aware order current costs a poll: `window_priority.refresh()`
timed in process over N waiting conversations whose customers' windows close spread
over the day, ten agents online of capacity 2 (docs/benchmarks.md).

Run: `python -m tests.devtools.bench_window_refresh [N]` (SQLite; under
`python -m tests.devtools.throwaway --` on PostgreSQL). It builds a test database
and removes it after. Prints the first batch's time (up to `window_priority.BATCH`
conversations moved ahead, each with its event) and the median poll once nothing is
left to change.
"""

import logging
import os
import statistics
import sys
import time
from datetime import timedelta


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 2000
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    logging.getLogger("handoff").setLevel(logging.WARNING)  # one line per move otherwise
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    try:
        return _measure(count, connection)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def _measure(count: int, connection) -> int:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from handoff.models import AgentPresence, Contact, Conversation
    from handoff.services import seats, window_priority
    from tests.support.agents import make_agent

    now = timezone.now()
    for n in range(10):
        make_agent(f"agent{n}")
        user = get_user_model().objects.get(username=f"agent{n}")
        seats.set_capacity(agent_id=user.pk, capacity=2)
        seats.set_status(agent=user, status="available")
        AgentPresence.objects.create(agent=user, channel_name=f"bench!{n}")
    contacts = Contact.objects.bulk_create(
        Contact(
            external_id=f"customer-{n}",
            phone_number=f"+81{n:09d}",
            last_inbound_at=now - timedelta(minutes=(n * 7) % 1440),
        )
        for n in range(count)
    )
    Conversation.objects.bulk_create(
        Conversation(
            contact=contact,
            state=Conversation.State.WAITING,
            escalated_at=now - timedelta(seconds=count - n),
            waiting_since=now,
        )
        for n, contact in enumerate(contacts)
    )
    started = time.perf_counter()
    window_priority.refresh()
    first_batch = (time.perf_counter() - started) * 1000
    while window_priority.refresh():
        pass
    polls = []
    for _ in range(7):
        started = time.perf_counter()
        window_priority.refresh()
        polls.append((time.perf_counter() - started) * 1000)
    ahead = Conversation.objects.filter(serve_by__isnull=False).count()
    print(
        f"window-aware order, {connection.vendor}: {count:,} waiting, {ahead} moved ahead; "
        f"first batch of up to {window_priority.BATCH} {first_batch:.0f} ms, "
        f"a poll with nothing to change {statistics.median(polls):.1f} ms (median of 7)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
