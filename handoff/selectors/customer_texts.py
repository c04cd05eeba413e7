"""The texts handoff sends a customer, in the customer's language.

The language (rules/customer_language.py): the one Braze sent with the customer's
latest message (the webhook body's optional `language`, Braze's profile attribute),
else the script of their latest messages, else the site's `LANGUAGE_CODE`; each only
among the languages admins keep texts for (models.CustomerText). A text missing in
that language is the site's default language's, then the built-in English.

Never writes.
"""

from django.conf import settings

from handoff.models import Conversation, CustomerText, Message
from handoff.rules import customer_language, system_texts

# How many of the customer's latest messages show the script they write in.
SCRIPT_SAMPLE = 5


def languages() -> list[str]:
    """The languages admins keep any text in, and those every text has built in."""
    kept = CustomerText.objects.order_by().values_list("language", flat=True).distinct()
    return sorted({*kept, *system_texts.LANGUAGES})


def latest_messages(conversation: Conversation) -> list[tuple[str, dict]]:
    """(text, extra) of the customer's latest messages, newest first (one query)."""
    return list(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND)
        .order_by("-id")
        .values_list("text", "extra")[:SCRIPT_SAMPLE]
    )


def language_of(conversation: Conversation) -> str:
    """The language to write to this conversation's customer in."""
    return language_in(latest_messages(conversation))


def language_in(latest: list[tuple[str, dict]]) -> str:
    """The language for a customer whose latest messages are `latest`."""
    sent = next(
        (
            extra["language"]
            for _text, extra in latest
            if isinstance(extra, dict) and isinstance(extra.get("language"), str)
        ),
        "",
    )
    return customer_language.choose(
        sent=sent,
        texts=[text for text, _extra in latest],
        available=languages(),
        default=settings.LANGUAGE_CODE,
    )


def text(key: str, language: str) -> str:
    """The text `key` in `language`: its own row, else the site's default language's,
    else the built-in one (one query)."""
    site = customer_language.normalized(settings.LANGUAGE_CODE).split("-", 1)[0] or "en"
    found = dict(
        CustomerText.objects.filter(key=key, language__in={language, site}).values_list(
            "language", "text"
        )
    )
    if language in found:
        return found[language]
    if site in found:
        return found[site]
    return system_texts.default(key, language)
