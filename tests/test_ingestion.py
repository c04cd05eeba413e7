"""Worker pacing: background steps give way to the webhook only while it is busy.

Time here is a fake clock the tests move: the pacer's sleeps advance it and the
steps "use" CPU by advancing its CPU clock, so no test depends on the machine's speed.
"""

import pytest

from handoff.jobs.pacing import QUIET_AFTER_SECONDS, REST_SLICE_SECONDS, InboundTraffic, Pacer


class FakeTime:
    """A monotonic clock, a CPU clock, and a sleep that moves the first and runs what
    was scheduled for the moment it reaches."""

    def __init__(self):
        self.now = 0.0
        self.cpu = 0.0
        self.log: list[tuple[str, float]] = []
        self._scheduled: list[tuple[float, object]] = []

    def monotonic(self) -> float:
        return self.now

    def thread_time(self) -> float:
        return self.cpu

    def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))
        self.now += seconds
        due = [item for item in self._scheduled if item[0] <= self.now + 1e-9]
        for item in due:
            self._scheduled.remove(item)
            item[1]()

    def at(self, moment: float, action) -> None:
        self._scheduled.append((moment, action))

    def step(self, cpu_seconds: float):
        def work() -> bool:
            self.log.append(("step", cpu_seconds))
            self.cpu += cpu_seconds
            return True

        return work

    def rested(self) -> float:
        return sum(seconds for kind, seconds in self.log if kind == "sleep")


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
def traffic(fake):
    return InboundTraffic(clock=fake.monotonic)


def pacer(fake: FakeTime, traffic: InboundTraffic, share: float, max_rest: float) -> Pacer:
    return Pacer(
        share=share,
        max_rest=max_rest,
        busy=traffic.busy,
        cpu_clock=fake.thread_time,
        sleep=fake.sleep,
    )


def test_a_worker_rests_after_a_step_while_webhook_requests_are_in_flight(fake, traffic):
    paced = pacer(fake, traffic, share=0.2, max_rest=1.0)  # 20 ms of CPU owes 80 ms of rest
    with traffic.request():
        paced.run(fake.step(0.02))
        paced.run(fake.step(0))

    assert fake.rested() == pytest.approx(0.08)
    # The rest comes between the steps, in slices short enough to notice quiet at once.
    assert fake.log[0] == ("step", 0.02) and fake.log[-1] == ("step", 0)
    assert all(seconds <= REST_SLICE_SECONDS for kind, seconds in fake.log if kind == "sleep")


def test_a_worker_does_not_rest_when_the_webhook_is_quiet(fake, traffic):
    paced = pacer(fake, traffic, share=0.2, max_rest=1.0)
    with traffic.request():
        pass
    fake.now += QUIET_AFTER_SECONDS * 2

    paced.run(fake.step(0.02))
    paced.run(fake.step(0))

    assert fake.rested() == 0


def test_a_worker_still_rests_just_after_a_request_ended(fake, traffic):
    """Requests in a burst leave gaps of microseconds: those are not quiet yet."""
    paced = pacer(fake, traffic, share=0.2, max_rest=1.0)
    with traffic.request():
        pass
    fake.now += QUIET_AFTER_SECONDS / 2

    paced.run(fake.step(0.02))
    paced.run(fake.step(0))

    assert 0 < fake.rested() <= QUIET_AFTER_SECONDS / 2 + REST_SLICE_SECONDS


def test_the_rest_ends_as_soon_as_the_webhook_goes_quiet(fake, traffic):
    paced = pacer(fake, traffic, share=0.01, max_rest=5.0)  # would owe ~2 s
    request = traffic.request()
    request.__enter__()
    fake.at(0.05, lambda: request.__exit__(None, None, None))

    paced.run(fake.step(0.02))
    paced.run(fake.step(0))

    # The request ended at 0.05; quiet begins QUIET_AFTER_SECONDS later, noticed within
    # one slice of rest.
    quiet = 0.05 + QUIET_AFTER_SECONDS
    assert quiet <= fake.rested() + 1e-9 <= quiet + REST_SLICE_SECONDS + 1e-9
    assert paced.owed == 0  # what was not rested is forgiven, not carried over


def test_no_rest_is_longer_than_the_cap_even_under_a_flood(fake, traffic):
    paced = pacer(fake, traffic, share=0.01, max_rest=0.1)  # would owe ~2 s
    with traffic.request():
        paced.run(fake.step(0.02))
        paced.run(fake.step(0))

    assert fake.rested() == pytest.approx(0.1)
    assert fake.rested() <= 0.1 + 1e-9


def test_the_web_process_traffic_is_what_pacers_read_by_default():
    """The webhook view enters `inbound_request`; workers' pacers must see it."""
    from handoff.jobs import pacing

    assert Pacer()._busy == pacing.inbound_busy
    with pacing.inbound_request():
        assert pacing.inbound_busy()
