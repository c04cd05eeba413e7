"""The bot interface: one call that answers a customer or says it cannot.

A bot never sends anything and never changes a conversation; it only proposes. The
routing service decides what happens with the proposal, so every bot (FAQ, an LLM,
your own HTTP service) gets the same hand-over and never-talk-over-a-person rules.
"""

from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Turn:
    """One line of the transcript as a bot sees it."""

    role: str  # "customer", "bot", "agent" or "system"
    text: str


@dataclass(frozen=True)
class BotRequest:
    conversation_id: int
    contact_external_id: str
    contact_name: str
    text: str
    topic: str = ""
    transcript: tuple[Turn, ...] = field(default_factory=tuple)  # oldest first, ends before `text`


@dataclass(frozen=True)
class BotAnswer:
    """`text` to send, or none; `handoff` asks for a person (with a reason)."""

    text: str = ""
    handoff: bool = False
    handoff_reason: str = ""

    @property
    def has_answer(self) -> bool:
        return bool(self.text.strip())


class BotError(Exception):
    """The bot failed (timeout, bad response); routing counts it as a miss."""


class Bot(Protocol):
    def answer(self, request: BotRequest) -> BotAnswer: ...


BOTS = {"faq": "handoff.bots.faq.FaqBot"}


def get_bot() -> Bot:
    """The bot named by HANDOFF_BOT: a short name from BOTS or a dotted class path."""
    name = settings.HANDOFF_BOT
    path = BOTS.get(name, name if "." in name else None)
    if path is None:
        raise ImproperlyConfigured(
            f"HANDOFF_BOT={name!r} is not a known bot; use one of {sorted(BOTS)} "
            "or the dotted path of a class."
        )
    return import_string(path)()
