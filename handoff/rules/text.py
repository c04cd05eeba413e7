"""Text comparison that treats the ways customers type the same thing as the same.

Customers write "ＡＧＥＮＴ", "Agent" and "agent"; half-width and full-width katakana;
Japanese without spaces. Escalation rules and the FAQ bot compare text through these
pure functions so that both agree on what "the same" means.
"""

import re
import unicodedata
from enum import Enum

_SPACE_RUN = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case folding and collapsed white space: the form every comparison uses."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Case folding can denormalise a few characters (e.g. "ß" -> "ss" is fine, but
    # some folds produce combining sequences), so normalise once more.
    folded = unicodedata.normalize("NFKC", folded)
    return _SPACE_RUN.sub(" ", folded).strip()


class Script(Enum):
    """The classes of characters that decide where a word may end."""

    WORD = "word"  # letters and digits of scripts written with spaces
    KATAKANA = "katakana"
    HIRAGANA = "hiragana"
    HAN = "han"
    OTHER = "other"  # spaces, punctuation, symbols, emoji


def script_of(char: str) -> Script:
    code = ord(char)
    if code in (0x30A0, 0x30FB):
        return Script.OTHER  # the double hyphen and the middle dot "・" separate words
    if 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        # The prolonged sound mark "ー" lives here and belongs to katakana words.
        return Script.KATAKANA
    if 0x3040 <= code <= 0x309F:
        return Script.HIRAGANA
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
        return Script.HAN
    if char.isalnum() or char == "_":
        return Script.WORD
    return Script.OTHER


# Scripts whose words are separated, so a match must not run into more of the same.
_BOUNDED_SCRIPTS = frozenset({Script.WORD, Script.KATAKANA})


def _edge_is_free(edge_char: str, neighbour: str | None) -> bool:
    if neighbour is None:
        return True
    edge = script_of(edge_char)
    return edge not in _BOUNDED_SCRIPTS or script_of(neighbour) != edge


def contains_word(text: str, phrase: str) -> bool:
    """Whether normalised `phrase` stands in normalised `text` as a whole word.

    Latin-like words and katakana words need a boundary (a space, punctuation or a
    different script) on each side; next to kanji or hiragana, which Japanese writes
    without spaces, any position counts.
    """
    if not phrase:
        return False
    start = text.find(phrase)
    while start != -1:
        end = start + len(phrase)
        before = text[start - 1] if start > 0 else None
        after = text[end] if end < len(text) else None
        if _edge_is_free(phrase[0], before) and _edge_is_free(phrase[-1], after):
            return True
        start = text.find(phrase, start + 1)
    return False


_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def strip_edge_punctuation(text: str) -> str:
    """'Agent!!' and '「担当者」' are the phrase itself for whole-message matching."""
    return _EDGE_PUNCTUATION.sub("", text)


# ---------------------------------------------------------------------------
# Features for fuzzy matching (the FAQ bot).

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "but",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "please",
        "hi",
        "hello",
        "hey",
        "there",
        "what",
        "how",
        "when",
        "where",
        "which",
        "who",
        "why",
        "tell",
        "know",
        "want",
        "need",
        "get",
        "have",
        "has",
        "had",
        "some",
        "any",
        "about",
        "just",
        "so",
    ]
)


def _stem(word: str) -> str:
    """A deliberately light English stemmer: plural and common verb endings only."""
    for suffix, min_stem in (("ing", 3), ("ies", 2), ("es", 3), ("ed", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
            stem = word[: -len(suffix)]
            if suffix == "ies":
                return stem + "y"
            # "resetting" -> "reset", "shipped" -> "ship"; but "calling" -> "call".
            doubled = len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lszaeiou"
            return stem[:-1] if suffix in ("ing", "ed") and doubled else stem
    return word


def features(text: str) -> frozenset[str]:
    """The comparable pieces of a message: stemmed words, and bigrams of Japanese runs.

    Japanese has no spaces, so overlapping character pairs stand in for words. Within
    a run that has kanji or katakana, hiragana (mostly particles and endings, "は",
    "ですか") only separates the meaningful parts; a run of hiragana alone is kept.
    """
    result: set[str] = set()
    word: list[str] = []
    run: list[str] = []

    def flush_word() -> None:
        if word:
            token = "".join(word)
            if token not in _STOPWORDS:
                result.add(_stem(token))
            word.clear()

    def flush_run() -> None:
        if not run:
            return
        has_content = any(script_of(char) is not Script.HIRAGANA for char in run)
        chunk: list[str] = []
        for char in [*run, None]:
            if char is not None and (not has_content or script_of(char) is not Script.HIRAGANA):
                chunk.append(char)
                continue
            if len(chunk) == 1:
                result.add(chunk[0])
            result.update(chunk[i] + chunk[i + 1] for i in range(len(chunk) - 1))
            chunk.clear()
        run.clear()

    for char in normalize(text):
        script = script_of(char)
        if script is Script.WORD:
            flush_run()
            word.append(char)
        elif script in (Script.KATAKANA, Script.HIRAGANA, Script.HAN):
            flush_word()
            run.append(char)
        else:
            flush_word()
            flush_run()
    flush_word()
    flush_run()
    return frozenset(result)
