"""Bots for tests, selected with HANDOFF_BOT=<dotted path>."""

import threading
import time

from django.db import connection

from handoff.bots import BotAnswer, BotRequest
from handoff.models import Conversation


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


class ObservingBot:
    """Answers at once, and notes what anyone could read at the moment it was asked:
    the conversation's filing as committed, and whether routing held a transaction."""

    seen: list[dict] = []

    def answer(self, request: BotRequest) -> BotAnswer:
        filed = Conversation.objects.values("topic", "queue_label").get(pk=request.conversation_id)
        type(self).seen.append({**filed, "in_transaction": connection.in_atomic_block})
        return BotAnswer(text=f"noted: {request.text}")
