"""Who a private note mentions: `@username`, read the way Django spells usernames.

A pure function of the note's text and the agents' usernames. The service hands it the
roster of active agents and stores what it decides; nothing here queries, notifies or
stores, and nothing here decides who may be mentioned (the roster does).

How a mention is read:

- `@` (or the full-width `＠` a Japanese keyboard types) starts one when the character
  before it could not be part of a username, so `a@b.com` mentions no one; the name
  runs over Django's username characters (letters, digits and `_ . @ + -`).
- Trailing punctuation is not part of the name when that names an agent (`@ben.` at
  the end of a sentence is ben; a username that really ends in a dot still wins), and
  neither is Japanese written straight after a Latin name (`@benさん` is ben).
- Case and width do not matter (`@Ben`, `@ＢＥＮ`), as Django compares usernames after
  NFKC; when two usernames differ only in case, the one written exactly wins, and
  otherwise the mention is ambiguous and names no one.
- A name no agent has is given back, as written, so the author can be told;
  mentioning oneself notifies no one and is not an error.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from handoff.rules.text import Script, script_of

# Django's AbstractUser.username: longer runs cannot be anyone's name.
MAX_USERNAME_CHARS = 150

_NAME_CHARS = r"\w.@+\-"
_MENTION = re.compile(rf"(?<![{_NAME_CHARS}＠])[@＠]([{_NAME_CHARS}]+)")
# Characters a username may hold that also end sentences or follow a name in writing.
_TRAILING = frozenset(".@+-")
_LETTERS = frozenset({Script.WORD, Script.KATAKANA, Script.HIRAGANA, Script.HAN})


@dataclass(frozen=True)
class Mentions:
    """The agents a note notifies (usernames, in the order first mentioned, each once,
    never its author) and the names that matched no agent (as written, each once)."""

    usernames: tuple[str, ...]
    unresolved: tuple[str, ...]


def fold(name: str) -> str:
    """The form two usernames are compared in: NFKC, then case folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def written_mentions(text: str) -> list[str]:
    """Every `@name` in the text, without the `@`, in order (repeats included)."""
    return _MENTION.findall(text)


def candidates(token: str) -> list[str]:
    """The names a written mention may stand for, longest first: the whole token, then
    the token cut where trailing punctuation starts or where the script changes."""
    found = []
    for end in range(min(len(token), MAX_USERNAME_CHARS), 0, -1):
        head, rest = token[:end], token[end:]
        if not rest or all(c in _TRAILING for c in rest) or _script_changes(head[-1], rest[0]):
            found.append(head)
    return found


def _script_changes(last: str, following: str) -> bool:
    before, after = script_of(last), script_of(following)
    return before != after and before in _LETTERS and after in _LETTERS


def read_mentions(text: str, *, usernames: Iterable[str], author: str = "") -> Mentions:
    """Resolve the note's mentions against these usernames (the active agents)."""
    by_fold: dict[str, list[str]] = {}
    for username in usernames:
        by_fold.setdefault(fold(username), []).append(username)
    mentioned: list[str] = []
    unresolved: list[str] = []
    for token in written_mentions(text):
        username = _resolve(token, by_fold)
        if username is None:
            shown = token.rstrip("".join(_TRAILING))
            if shown and fold(shown) not in {fold(u) for u in unresolved}:
                unresolved.append(shown)
        elif username != author and username not in mentioned:
            mentioned.append(username)
    return Mentions(usernames=tuple(mentioned), unresolved=tuple(unresolved))


def _resolve(token: str, by_fold: dict[str, list[str]]) -> str | None:
    for name in candidates(token):
        matches = by_fold.get(fold(name))
        if not matches:
            continue
        if len(matches) == 1:
            return matches[0]
        exact = unicodedata.normalize("NFKC", name)
        return exact if exact in matches else None
    return None
