"""What a chat-model bot is sent: instructions with knowledge, recent transcript, question.

Pure functions of their arguments (no database, no settings), so that they can be
tested on their own and reused by any bot that speaks in chat messages. They shape
the conversation for the model; they never decide whether the bot answers or hands
over, which is the model's call and then routing's.
"""

from collections.abc import Iterable, Sequence

from handoff.bots import Turn

HANDOFF_TOOL = "handoff_to_agent"

# Sent in place of an empty customer message (a photo or a voice note without text),
# because some servers refuse an empty user message.
NO_TEXT = "[The customer sent an attachment without text.]"


def handoff_tool() -> dict:
    """The one tool the model may call: asking for a person, with a reason agents read."""
    return {
        "type": "function",
        "function": {
            "name": HANDOFF_TOOL,
            "description": (
                "Hand this conversation to a human support agent. Call it when the "
                "customer asks for a person, when you are not sure of the answer, when "
                "the customer is upset, or when the request needs someone to look at "
                "their account or order."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "description": (
                            "One short sentence for the agent: why a person should take "
                            "over and what the customer needs."
                        ),
                    }
                },
                "required": ["reason"],
            },
        },
    }


def knowledge_text(entries: Iterable[tuple[Sequence[str], str]]) -> str:
    """FAQ entries as question/answer pairs: the form models follow most reliably."""
    blocks = []
    for questions, answer in entries:
        asked = " / ".join(question.strip() for question in questions if question.strip())
        if asked and answer.strip():
            blocks.append(f"Q: {asked}\nA: {answer.strip()}")
    if not blocks:
        return ""
    return "Knowledge (questions customers ask, and the answers to give):\n\n" + "\n\n".join(blocks)


def topic_instructions(instructions: str) -> str:
    """A topic route's instructions, marked as such so they read as part of the prompt."""
    instructions = instructions.strip()
    if not instructions:
        return ""
    return "Instructions for this conversation's topic:\n" + instructions


def system_text(prompt: str, knowledge: str = "", instructions: str = "") -> str:
    """The system prompt, then the topic's instructions, then the knowledge: the
    instructions refine the general prompt and may say how to use the knowledge."""
    return "\n\n".join(part for part in (prompt.strip(), instructions, knowledge) if part)


def bounded_transcript(turns: Sequence[Turn], max_chars: int) -> list[Turn]:
    """The newest turns whose texts fit in `max_chars` together, oldest first.

    Whole turns only: half a sentence can mean something else, and the newest turns
    matter most to the answer. Blank turns (media without text) are left out.
    """
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if not turn.text.strip():
            continue
        if used + len(turn.text) > max_chars:
            break
        kept.append(turn)
        used += len(turn.text)
    kept.reverse()
    return kept


def chat_messages(
    *, system_prompt: str, transcript: Sequence[Turn], text: str, context_chars: int
) -> list[dict]:
    """The `messages` of a chat-completions request, ending with the customer's message.

    Everything the customer was told (by the bot, an agent or the system) is the
    assistant's side. Consecutive turns of one side are joined and the history starts
    with the customer, because the chat templates of several open models (Mistral,
    Gemma, served by vLLM or llama.cpp) reject anything but strict alternation.
    """
    turns = [*bounded_transcript(transcript, context_chars), Turn("customer", text or NO_TEXT)]
    history: list[dict] = []
    for turn in turns:
        role = "user" if turn.role == "customer" else "assistant"
        if not history and role == "assistant":
            continue
        if history and history[-1]["role"] == role:
            history[-1]["content"] += "\n\n" + turn.text
        else:
            history.append({"role": role, "content": turn.text})
    return [{"role": "system", "content": system_prompt}, *history]
