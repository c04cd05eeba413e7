"""The texts handoff itself sends customers, by key: their built-in wording in English
and Japanese (what a fresh install writes and what a missing language falls back to),
and the placeholders each may hold.

Admins keep the texts per language in admin (models.CustomerText, filled from these on
installation); a language is added there, without code.

Pure: no models, no settings.
"""

import re

from django.utils.translation import gettext as _

HANDOVER = "handover"
OFFLINE = "offline"
RESOLVED = "resolved"
BOT_MISS = "bot_miss"
SURVEY_PROMPT = "survey_prompt"
REENGAGEMENT = "reengagement"
POSITION_UPDATE = "position_update"

DEFAULTS: dict[str, dict[str, str]] = {
    HANDOVER: {
        "en": (
            "Thanks for your patience. I'm passing you to a member of our team: you are "
            "number {position} in the queue, and the wait is {wait}. They'll reply right "
            "here in this chat."
        ),
        "ja": (
            "お待たせしております。担当者におつなぎします。現在{position}番目にお待ちいただいており、"
            "待ち時間は{wait}です。こちらのチャットでご返信いたします。"
        ),
    },
    OFFLINE: {
        "en": (
            "We are closed now and open again {opening}. A member of our team will reply here then."
        ),
        "ja": (
            "ただいま営業時間外です。次の営業開始は{opening}です。"
            "営業開始後、担当者よりこちらにご返信いたします。"
        ),
    },
    RESOLVED: {
        "en": (
            "Glad we could help. This conversation is now closed; just write to us "
            "here whenever you need anything else."
        ),
        "ja": (
            "お問い合わせありがとうございました。このお問い合わせは完了となります。"
            "またいつでもこちらにご連絡ください。"
        ),
    },
    BOT_MISS: {
        "en": (
            "Sorry, I didn't quite get that. Could you say it another way? "
            'You can also write "agent" at any time to talk to a person.'
        ),
        "ja": (
            "申し訳ありません、うまく理解できませんでした。別の言い方でお試しください。"
            "担当者と話したい場合は「担当者」とお送りください。"
        ),
    },
    POSITION_UPDATE: {
        "en": "Thanks for waiting. You are now number {position} in the queue; the wait is {wait}.",
        "ja": "お待たせしております。現在{position}番目で、待ち時間は{wait}です。",
    },
    REENGAGEMENT: {
        "en": (
            "We haven't forgotten you: a member of our team will reply here as soon as "
            "they can. Reply to this message so that we can keep writing to you."
        ),
        "ja": (
            "お待たせして申し訳ありません。担当者より順次こちらでご返信いたします。"
            "引き続きご連絡できるよう、このメッセージにご返信ください。"
        ),
    },
    SURVEY_PROMPT: {
        "en": "How did we do? Reply with a number from 1 (poor) to 5 (excellent).",
        "ja": "今回の対応はいかがでしたか？1（不満）から5（満足）の数字でご返信ください。",
    },
}

# The languages every text has built in.
LANGUAGES = ("en", "ja")
# The placeholders a text may hold; any other {name} is a typo that would reach
# customers as written.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    HANDOVER: ("{position}", "{wait}"),
    POSITION_UPDATE: ("{position}", "{wait}"),
    OFFLINE: ("{opening}",),
}
# Texts that may be empty: then nothing is sent.
MAY_BE_EMPTY = (HANDOVER, RESOLVED)
_PLACEHOLDER = re.compile(r"\{[^{}\s]*\}")


def default(key: str, language: str) -> str:
    """The built-in text in `language`, else in English."""
    texts = DEFAULTS[key]
    return texts.get(language.split("-", 1)[0], texts["en"])


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each placeholder of `values` ("{position}": "3") replaced."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def needs(text: str, placeholders: tuple[str, ...]) -> bool:
    """Whether `text` holds any of `placeholders` (worth computing their values)."""
    return any(placeholder in text for placeholder in placeholders)


def problem(key: str, text: str) -> str | None:
    """Why an admin's text cannot be sent as it is, or None."""
    if not text.strip() and key not in MAY_BE_EMPTY:
        return _("This text cannot be empty: customers would be sent nothing.")
    allowed = PLACEHOLDERS.get(key, ())
    unknown = sorted({found for found in _PLACEHOLDER.findall(text) if found not in allowed})
    if not unknown:
        return None
    if not allowed:
        return _("Unknown placeholder %(names)s: this text has none.") % {
            "names": ", ".join(unknown)
        }
    return _("Unknown placeholder %(names)s: this text may hold %(allowed)s.") % {
        "names": ", ".join(unknown),
        "allowed": ", ".join(allowed),
    }
