"""The bot interface: one call that answers a customer or says it cannot.

A bot never sends anything and never changes a conversation; it only proposes. The
routing service decides what happens with the proposal, so every bot (FAQ, an LLM,
your own HTTP service) gets the same hand-over and never-talk-over-a-person rules.
"""

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from handoff.selectors.transcripts import transcript_before


@dataclass(frozen=True)
class Turn:
    """One line of the transcript as a bot sees it."""

    role: str  # "customer", "bot", "agent" or "system"
    text: str


@dataclass(frozen=True)
class BotRequest:
    conversation_id: int
    message_id: int
    contact_external_id: str
    contact_name: str
    text: str
    topic: str = ""
    # From the message's topic route (handoff.services.topics): the queue agents would
    # see, extra instructions for an LLM, and the FAQ entries to answer from (None:
    # all active entries; an empty tuple: none).
    queue_label: str = ""
    instructions: str = ""
    knowledge_ids: tuple[int, ...] | None = None

    @cached_property
    def transcript(self) -> tuple[Turn, ...]:
        """The conversation before this message, oldest first (bounded); loaded only
        by bots that read it, so the FAQ bot costs no query for it."""
        return tuple(
            Turn(role=role, text=text)
            for role, text in transcript_before(self.conversation_id, self.message_id)
        )


@dataclass(frozen=True)
class BotAnswer:
    """`text` to send, or none; `handoff` asks for a person (with a reason).

    `campaign` (a BrazeCampaign key) sends the answer through that Braze campaign
    with `properties` as its trigger properties, so multi-step flows (a quick-reply
    menu, a survey) use Braze's own layouts; `text` is still what the transcript
    shows and what is sent as plain text if the campaign cannot be used.
    """

    text: str = ""
    handoff: bool = False
    handoff_reason: str = ""
    campaign: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def has_answer(self) -> bool:
        return bool(self.text.strip() or self.campaign)


class BotError(Exception):
    """The bot failed (timeout, bad response); routing counts it as a miss."""


class Bot(Protocol):
    def answer(self, request: BotRequest) -> BotAnswer: ...


BOTS = {
    "faq": "handoff.bots.faq.FaqBot",
    "openai": "handoff.bots.openai.OpenAIBot",
    "http": "handoff.bots.http.HttpBot",
}


# Bot instances of this thread, by class path.
_instances = threading.local()


def get_bot() -> Bot:
    """The bot named by HANDOFF_BOT: a short name from BOTS or a dotted class path.

    One instance per thread and class, kept for the thread's life: a bot may then hold
    a connection pool (a requests.Session, which must not be shared between threads)
    and reuse it for every message the thread routes. A bot must therefore read
    settings when it answers, not when it is made.
    """
    name = settings.HANDOFF_BOT
    path = BOTS.get(name, name if "." in name else None)
    if path is None:
        raise ImproperlyConfigured(
            f"HANDOFF_BOT={name!r} is not a known bot; use one of {sorted(BOTS)} "
            "or the dotted path of a class."
        )
    bots = getattr(_instances, "by_path", None)
    if bots is None:
        bots = _instances.by_path = {}
    if path not in bots:
        bots[path] = import_string(path)()
    return bots[path]
