"""Bots for tests, selected with HANDOFF_BOT=<dotted path>."""

import threading
import time

from handoff.bots import BotAnswer, BotRequest


class SlowBot:
    """Answers after `delay` seconds; `started` is set when a question arrives."""

    delay = 1.5
    started = threading.Event()

    def answer(self, request: BotRequest) -> BotAnswer:
        type(self).started.set()
        time.sleep(self.delay)
        return BotAnswer(text=f"slow answer to: {request.text}")


class FailingBot:
    def answer(self, request: BotRequest) -> BotAnswer:
        raise RuntimeError("model server unreachable")


class HandoffBot:
    def answer(self, request: BotRequest) -> BotAnswer:
        return BotAnswer(handoff=True, handoff_reason="customer is upset")
