"""The LLM bot: any server that speaks OpenAI's chat-completions API (OpenAI, Azure
OpenAI, Ollama, vLLM, llama.cpp's server) answers the customer or hands over.

One POST per customer message with the admin-edited system prompt, the FAQ entries
as knowledge, the recent transcript and one tool, `handoff_to_agent`, through which
the model asks for a person. Any failure (unreachable, slow, a non-2xx answer, a body
that is not a chat completion) raises BotError, which routing counts as a miss.

It never sends or changes anything itself and never puts the API key in an error or
a log line: errors end up in escalation details that agents read.
"""

import json
import logging
from typing import Any

import requests
from django.conf import settings

from handoff.bots import BotAnswer, BotError, BotRequest
from handoff.bots.faq import entries_for
from handoff.bots.prompting import (
    HANDOFF_TOOL,
    chat_messages,
    handoff_tool,
    knowledge_text,
    system_text,
    topic_instructions,
)
from handoff.models import BotSettings
from handoff.rules.payloads import MAX_MESSAGE_CHARS

logger = logging.getLogger(__name__)

# Said to agents when the model called the tool but gave no usable reason.
UNSTATED_REASON = "The bot asked for a person without giving a reason."
ERROR_BODY_CHARS = 200


class OpenAIBot:
    """One instance per worker thread (see get_bot), so its Session's pooled
    connection is reused without being shared between threads."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def answer(self, request: BotRequest) -> BotAnswer:
        # Settings are read per call, not in __init__: the instance outlives them in tests.
        base_url = settings.OPENAI_BASE_URL.strip().rstrip("/")
        model = settings.OPENAI_MODEL.strip()
        if not base_url or not model:
            raise BotError("HANDOFF_BOT=openai needs OPENAI_BASE_URL and OPENAI_MODEL.")
        body = {
            "model": model,
            "messages": self.messages(request),
            "temperature": settings.OPENAI_TEMPERATURE,
            "tools": [handoff_tool()],
        }
        return parse_completion(self.post(f"{base_url}/chat/completions", body))

    def messages(self, request: BotRequest) -> list[dict]:
        bot_settings = BotSettings.load()
        knowledge = ""
        if bot_settings.use_faq_as_knowledge:
            # The topic route's subset, when it names one: a billing bot answers from
            # billing entries only.
            knowledge = knowledge_text(
                (entry.question_list, entry.answer) for entry in entries_for(request)
            )
        return chat_messages(
            system_prompt=system_text(
                bot_settings.system_prompt, knowledge, topic_instructions(request.instructions)
            ),
            transcript=request.transcript,
            text=request.text,
            context_chars=settings.HANDOFF_BOT_CONTEXT_CHARS,
        )

    def post(self, url: str, body: dict) -> Any:
        """The decoded JSON answer; BotError for anything that is not a 2xx JSON body."""
        timeout = settings.OPENAI_TIMEOUT_SECONDS
        headers = {"Content-Type": "application/json"}
        if settings.OPENAI_API_KEY:  # Ollama and llama.cpp need none
            headers["Authorization"] = f"Bearer {settings.OPENAI_API_KEY}"
        try:
            response = self.session.post(url, json=body, headers=headers, timeout=timeout)
        except requests.Timeout as error:
            raise BotError(f"The model server did not answer within {timeout:g} s.") from error
        except requests.RequestException as error:
            raise BotError(f"Could not reach the model server ({type(error).__name__}).") from error
        if not response.ok:
            raise BotError(
                f"The model server answered {response.status_code}: "
                f"{response.text[:ERROR_BODY_CHARS].strip()}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise BotError("The model server's answer is not JSON.") from error


def parse_completion(data: Any) -> BotAnswer:
    """A chat completion as the bot's proposal: a hand-over if the model called the
    tool, else its text. Shapes differ a little between servers; parsing tolerates
    what they agree on and refuses the rest with BotError."""
    try:
        message = data["choices"][0]["message"]
        content = _text_of(message.get("content"))
        calls = message.get("tool_calls") or []
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise BotError("The model server's answer is not a chat completion.") from error
    names = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        names.append(name)
        if name == HANDOFF_TOOL:
            return BotAnswer(
                text=content, handoff=True, handoff_reason=_reason(function.get("arguments"))
            )
    if calls and not content.strip():
        raise BotError(f"The model called unknown tools {names!r} and wrote nothing.")
    return BotAnswer(text=_fitted(content))


def _text_of(content: Any) -> str:
    """Content is a string, null beside a tool call, or (some servers) a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise TypeError(f"content is a {type(content).__name__}")


def _reason(arguments: Any) -> str:
    """Arguments are a JSON string (OpenAI, vLLM) or already an object (some Ollama
    versions); a model that called the tool wants a person even if they are garbled."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments.strip()[:500] or UNSTATED_REASON
    if isinstance(arguments, dict) and isinstance(arguments.get("reason"), str):
        return arguments["reason"].strip() or UNSTATED_REASON
    return UNSTATED_REASON


def _fitted(text: str) -> str:
    """WhatsApp refuses longer messages; a cut answer beats none."""
    text = text.strip()
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
