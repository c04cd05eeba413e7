"""Parsing and validating the body Braze's webhook campaign posts.

Pure functions: bytes in, an `InboundPayload` or a `PayloadError` out. Braze never
retries a 4xx, so an error here is final for that message: each one names the field
and the problem in words a marketer can act on in the webhook composer.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_MESSAGE_CHARS = 4096  # WhatsApp's own limit for a text message
MAX_ID_CHARS = 255
MAX_PHONE_CHARS = 64
MAX_NAME_CHARS = 255
MAX_TOPIC_CHARS = 100
MAX_MEDIA_URLS = 20
MAX_URL_CHARS = 2048
KNOWN_FIELDS = ("user_id", "phone_number", "message", "message_id", "media_urls", "name", "topic")

# C0 and C1 control characters other than tab, line feed and carriage return, plus
# lone surrogates, which cannot be stored as UTF-8.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\r\n]")
# Bidirectional formatting characters: marks, embeddings, overrides and isolates. In a
# name, "x\u202etxt.exe" would show as "xexe.txt" to agents; a name needs none of them.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-]+$")
_URL_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class InboundPayload:
    user_id: str
    phone_number: str
    message: str
    message_id: str = ""
    media_urls: tuple[str, ...] = ()
    name: str = ""
    topic: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class PayloadError(Exception):
    """A body that can never be accepted; `fields` maps a field to its problem."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


MAX_EXTRA_DEPTH = 20


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """1e400 parses to infinity, which no JSON column can store."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode a JSON object from the raw body, or raise PayloadError."""
    if not body.strip():
        raise PayloadError("The body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PayloadError(
            f"The body is not valid UTF-8 (bad byte at position {error.start})."
        ) from error
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as error:
        raise PayloadError("The body is nested too deeply to be a webhook payload.") from error
    except (json.JSONDecodeError, ValueError) as error:
        raise PayloadError(
            f"The body is not valid JSON ({error}); in the Braze webhook composer, "
            "pass customer text through the json_escape filter."
        ) from error
    if not isinstance(data, dict):
        raise PayloadError(f"The body must be a JSON object, not {_json_type(data)}.")
    return data


def validate(data: dict[str, Any]) -> InboundPayload:
    """Check every field at once, so one response lists all the problems."""
    problems: dict[str, str] = {}
    user_id = _string(data, "user_id", problems, required=True, max_chars=MAX_ID_CHARS)
    phone = _string(data, "phone_number", problems, required=True, max_chars=MAX_PHONE_CHARS)
    if phone and not _is_phone_number(phone):
        problems["phone_number"] = (
            "must be a phone number: digits, optionally with +, spaces or dashes"
        )
    message = _string(data, "message", problems, max_chars=MAX_MESSAGE_CHARS, multiline=True)
    message_id = _string(data, "message_id", problems, max_chars=MAX_ID_CHARS)
    name = _string(data, "name", problems, max_chars=MAX_NAME_CHARS)
    topic = _string(data, "topic", problems, max_chars=MAX_TOPIC_CHARS)
    media_urls = _media_urls(data.get("media_urls"), problems)

    if "message" not in problems and not (message or "").strip() and not media_urls:
        problems["message"] = (
            "is required and may be empty only when media_urls is present"
            if data.get("message") is None
            else "is empty and there are no media_urls"
        )
    extra = {key: value for key, value in data.items() if key not in KNOWN_FIELDS}
    for key, value in extra.items():
        if problem := _extra_problem(key, value):
            problems[key] = problem
    if problems:
        raise PayloadError(_summary(problems), problems)

    return InboundPayload(
        user_id=user_id.strip(),
        phone_number=phone.strip(),
        message=message or "",
        message_id=(message_id or "").strip(),
        media_urls=tuple(media_urls),
        name=strip_bidi_controls(name or "").strip(),
        topic=(topic or "").strip(),
        extra=extra,
    )


def strip_bidi_controls(text: str) -> str:
    """The text without bidirectional formatting characters, which in a name only serve
    to disguise it (the inbox also isolates every customer text when it shows it)."""
    return _BIDI_CONTROLS.sub("", text)


def _summary(problems: dict[str, str]) -> str:
    if len(problems) == 1:
        ((name, problem),) = problems.items()
        return f"Field '{name}' {problem}."
    return f"{len(problems)} fields are invalid: " + ", ".join(sorted(problems)) + "."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _string(
    data: dict[str, Any],
    name: str,
    problems: dict[str, str],
    *,
    required: bool = False,
    max_chars: int,
    multiline: bool = False,
) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            problems[name] = (
                "is required" if name not in data else "is required and may not be null"
            )
        return None
    if not isinstance(value, str):
        problems[name] = f"must be a string, not {_json_type(value)}"
        return None
    if required and not value.strip():
        problems[name] = "may not be empty"
        if name == "user_id":
            problems[name] += " (the Braze user has no external_id)"
        return None
    if len(value) > max_chars:
        problems[name] = f"is {len(value)} characters long; the limit is {max_chars}"
        return None
    if problem := text_problem(value, multiline=multiline):
        problems[name] = problem
        return None
    return value


def text_problem(value: str, *, multiline: bool) -> str | None:
    """Why a text cannot be stored and sent on, or None: a C0 or C1 control character
    other than tab and line breaks (line breaks too unless `multiline`), or a lone
    surrogate, which cannot be stored as UTF-8. The one rule for every text handoff
    takes in: the webhook's fields, agents' replies, campaign properties."""
    bad = _FORBIDDEN_CHARS.search(value) or (None if multiline else _LINE_BREAK.search(value))
    if bad:
        return f"contains a control character (U+{ord(bad.group()):04X})"
    return None


def _extra_problem(key: str, value: Any) -> str | None:
    """Extra fields are stored as given, so they too must be storable: walked without
    recursion, since json.loads accepts nesting deeper than Python's stack."""
    pending: list[tuple[Any, int]] = [(key, 0), (value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_EXTRA_DEPTH:
            return f"is nested more than {MAX_EXTRA_DEPTH} levels deep"
        if isinstance(item, str):
            if _FORBIDDEN_CHARS.search(item):
                return "contains a control character or an unpaired surrogate"
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            pending.extend((child, depth + 1) for pair in item.items() for child in pair)
    return None


def _is_phone_number(value: str) -> bool:
    digits = sum(char.isdigit() for char in value)
    return bool(_PHONE_CHARS.match(value.strip())) and 5 <= digits <= 20


def _media_urls(value: Any, problems: dict[str, str]) -> list[str]:
    """Braze's rendering of ${inbound_media_urls} is undocumented: take a list or a string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        tokens = (part.strip("[]\"'") for part in _URL_SPLIT.split(value.strip()))
        urls = [token for token in tokens if token]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        urls = [item.strip() for item in value if item.strip()]
    else:
        problems["media_urls"] = "must be a list of URLs or a string of URLs"
        return []
    if len(urls) > MAX_MEDIA_URLS:
        problems["media_urls"] = f"has {len(urls)} URLs; the limit is {MAX_MEDIA_URLS}"
        return []
    for url in urls:
        if not _is_web_url(url):
            problems["media_urls"] = f"holds something that is not an http(s) URL: {url[:80]!r}"
            return []
    return urls


def _is_web_url(url: str) -> bool:
    if len(url) > MAX_URL_CHARS or _FORBIDDEN_CHARS.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def dedup_key(payload: InboundPayload) -> str | None:
    """Braze retries resend the same rendered body, so (message_id, content) is the key.

    Content is part of it so that two different messages never collapse into one,
    even if a template fills message_id with something less unique than dispatch_id.
    """
    if not payload.message_id:
        return None
    material = "\x1f".join([payload.message_id, payload.message, *payload.media_urls])
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()
