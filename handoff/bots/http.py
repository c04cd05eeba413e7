"""The bot that asks your own service over HTTP (protocol: docs/http-bot.md).

It sends the conversation as signed JSON and turns the signed answer into a
BotAnswer. Anything short of a well-formed, correctly signed answer in time is a
BotError, which routing counts as a miss (fallback text, then bot_error): a broken
bot service must never leave a customer in silence, nor put words in our mouth.
It never sends to the customer itself and never logs the secret.
"""

import json
import threading
import time
from collections.abc import Callable

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from handoff.bots import BotAnswer, BotError, BotRequest, Turn, signing
from handoff.rules.payloads import MAX_MESSAGE_CHARS

MAX_REASON_CHARS = 500  # what an escalation keeps of its detail
MAX_CAMPAIGN_KEY_CHARS = 60  # BrazeCampaign.key's length
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_BODY_CHARS = 200
USER_AGENT = "handoff-http-bot/1"

# get_bot() builds a bot per message, so a session held only by the instance would
# never be reused; one per thread (routing threads live long) keeps the connection
# alive between messages without sharing a Session across threads.
_local = threading.local()


def _thread_session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def bounded_transcript(turns: tuple[Turn, ...], max_chars: int) -> list[dict[str, str]]:
    """The newest turns whose texts fit in `max_chars` together, oldest first.

    Whole turns only: half a sentence misleads a bot more than a shorter history.
    """
    kept: list[dict[str, str]] = []
    used = 0
    for turn in reversed(turns):
        used += len(turn.text)
        if used > max_chars:
            break
        kept.append({"role": turn.role, "text": turn.text})
    kept.reverse()
    return kept


class HttpBot:
    """Settings are read at each answer: get_bot() keeps one instance per thread."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._session = session
        # The exchange's deadline is on this clock; tests inject one they move.
        self._clock = clock

    @property
    def url(self) -> str:
        return settings.HANDOFF_BOT_URL

    @property
    def _secret(self) -> str:
        return settings.HANDOFF_BOT_SECRET

    @property
    def timeout(self) -> float:
        return settings.HANDOFF_BOT_TIMEOUT_SECONDS

    @property
    def context_chars(self) -> int:
        return settings.HANDOFF_BOT_CONTEXT_CHARS

    def __repr__(self) -> str:
        return f"HttpBot(url={self.url!r})"

    @property
    def session(self) -> requests.Session:
        return self._session if self._session is not None else _thread_session()

    def answer(self, request: BotRequest) -> BotAnswer:
        self._check_configured()
        body = self.request_body(request)
        response_body, signature = self._post(body)
        try:
            signing.verify(self._secret, response_body, signature)
        except signing.SignatureError as error:
            raise BotError(f"bot answer rejected: {error}") from error
        return parse_answer(response_body)

    def request_body(self, request: BotRequest) -> bytes:
        payload = {
            "conversation_id": request.conversation_id,
            "message_id": request.message_id,
            "contact": {"external_id": request.contact_external_id, "name": request.contact_name},
            "text": request.text,
            "topic": request.topic,
            "transcript": bounded_transcript(request.transcript, self.context_chars),
        }
        if route := route_data(request):
            payload["route"] = route
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _check_configured(self) -> None:
        missing = [
            name
            for name, value in (
                ("HANDOFF_BOT_URL", self.url),
                ("HANDOFF_BOT_SECRET", self._secret),
            )
            if not value
        ]
        if missing:
            raise ImproperlyConfigured(
                f"HANDOFF_BOT=http needs {' and '.join(missing)}: the URL of your bot service "
                "and the secret both sides sign with (see docs/http-bot.md)."
            )
        if not self.url.startswith(("http://", "https://")):
            raise ImproperlyConfigured("HANDOFF_BOT_URL must be an http:// or https:// URL.")

    def _post(self, body: bytes) -> tuple[bytes, str | None]:
        """(raw body, signature header) of a 2xx answer; BotError for anything else.

        requests' read timeout is per socket read, so a service dripping bytes could
        hold a routing thread for ever; the whole exchange has one deadline here.
        """
        deadline = self._clock() + self.timeout
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            signing.HEADER: signing.sign(self._secret, body),
        }
        try:
            with self.session.post(
                self.url,
                data=body,
                headers=headers,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,  # a signed conversation goes only where configured
                stream=True,
            ) as response:
                content = _read_limited(response, deadline, self.timeout, self._clock)
                status = response.status_code
                signature = response.headers.get(signing.HEADER)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            # The body is read from urllib3 directly, whose errors requests does not wrap.
            timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError)
            if isinstance(error, timeouts) or self._clock() >= deadline:
                raise BotError(f"bot did not answer within {self.timeout:g} s") from error
            # The type only: the message repeats the URL, which may carry a token.
            raise BotError(f"could not reach the bot: {type(error).__name__}") from error
        if not 200 <= status < 300:
            snippet = content[:MAX_ERROR_BODY_CHARS].decode("utf-8", "replace")
            raise BotError(f"bot answered HTTP {status}: {snippet}".rstrip(": "))
        return content, signature


def route_data(request: BotRequest) -> dict | None:
    """What the message's topic route tells the bot, or None when it tells nothing
    (no route, or a route with no label, instructions or knowledge): services written
    before topic routes see the body they always did."""
    if not (request.queue_label or request.instructions or request.knowledge_ids is not None):
        return None
    return {
        "queue_label": request.queue_label,
        "instructions": request.instructions,
        "knowledge_ids": None if request.knowledge_ids is None else list(request.knowledge_ids),
    }


def _read_limited(
    response: requests.Response, deadline: float, timeout: float, clock: Callable[[], float]
) -> bytes:
    """The body, up to MAX_RESPONSE_BYTES, given up on once the deadline has passed.

    read1 returns whatever has arrived instead of waiting for a full chunk, so the
    deadline is checked as bytes trickle in; a read that stalls outright still ends
    at requests' read timeout.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = raw.read1(8192, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BotError(f"bot answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB")
        if clock() > deadline:
            raise BotError(f"bot did not answer within {timeout:g} s")
        chunks.append(chunk)


def parse_answer(content: bytes) -> BotAnswer:
    """The documented answer object, checked field by field; BotError says what is wrong."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BotError(f"bot answer is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise BotError("bot answer must be a JSON object")
    handoff = data.get("handoff", False)
    if not isinstance(handoff, bool):
        raise BotError('bot answer: "handoff" must be true or false')
    campaign = data.get("campaign", "")
    if not isinstance(campaign, str) or len(campaign) > MAX_CAMPAIGN_KEY_CHARS:
        raise BotError(
            f'bot answer: "campaign" must be a campaign key (a string of at most '
            f"{MAX_CAMPAIGN_KEY_CHARS} characters)"
        )
    properties = data.get("properties", {})
    if not isinstance(properties, dict) or not all(
        isinstance(value, str) for value in properties.values()
    ):
        raise BotError('bot answer: "properties" must be an object of strings')
    if "reply" not in data and not handoff and not campaign:
        raise BotError(
            'bot answer has no "reply" (send "" for no answer, "handoff": true, or a "campaign")'
        )
    reply = data.get("reply", "")
    if not isinstance(reply, str):
        raise BotError('bot answer: "reply" must be a string')
    if len(reply) > MAX_MESSAGE_CHARS:
        raise BotError(
            f'bot answer: "reply" is {len(reply)} characters; at most {MAX_MESSAGE_CHARS}'
        )
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise BotError('bot answer: "reason" must be a string')
    return BotAnswer(
        text=reply,
        handoff=handoff,
        handoff_reason=reason[:MAX_REASON_CHARS],
        campaign=campaign,
        properties=properties,
    )
