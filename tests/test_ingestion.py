"""Worker pacing: background steps give way to the webhook only while it is busy."""

import threading
import time

from handoff import ingestion
from handoff.ingestion import Pacer, inbound_request


def burn_cpu(seconds: float) -> bool:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass
    return True


def time_second_step(pacer: Pacer) -> float:
    pacer.run(lambda: burn_cpu(0.02))
    started = time.monotonic()
    pacer.run(lambda: True)
    return time.monotonic() - started


def test_a_worker_rests_after_a_step_while_webhook_requests_are_in_flight():
    pacer = Pacer(share=0.2, max_rest=1.0)  # 20 ms of CPU owes 80 ms of rest
    with inbound_request():
        waited = time_second_step(pacer)
    assert 0.07 <= waited < 0.5


def test_a_worker_does_not_rest_when_the_webhook_is_quiet():
    pacer = Pacer(share=0.2, max_rest=1.0)
    time.sleep(ingestion.QUIET_AFTER_SECONDS * 2)
    assert time_second_step(pacer) < 0.01


def test_the_rest_ends_as_soon_as_the_webhook_goes_quiet():
    pacer = Pacer(share=0.01, max_rest=5.0)  # would owe ~2 s
    request = inbound_request()
    request.__enter__()
    threading.Timer(0.05, request.__exit__, (None, None, None)).start()
    waited = time_second_step(pacer)
    assert 0.04 <= waited < 0.3


def test_no_rest_is_longer_than_the_cap_even_under_a_flood():
    pacer = Pacer(share=0.01, max_rest=0.1)  # would owe ~2 s
    with inbound_request():
        waited = time_second_step(pacer)
    assert 0.09 <= waited < 0.4
