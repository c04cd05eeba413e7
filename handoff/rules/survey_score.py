"""Reading a customer's satisfaction score (1 to 5) from the text of their message.

Deliberately narrow ("4", "４", "4/5", "4 stars", "⭐⭐⭐⭐"): a message that reads as
anything else is not a score, because mistaking "2 more questions" for a bad score is
worse than missing a score (services/satisfaction.py then treats it as an ordinary
message).

Pure: text in, a score or None out. No queries, no writes.
"""

import re
import unicodedata

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_STAR = "[⭐★🌟]"
_SCORE_PATTERNS = [
    # "4", "4/5", "4 / 5", "4 out of 5", "4 of 5", "4点" (NFKC has made "４" a "4")
    re.compile(r"(?P<n>[1-5])(?:\s*/\s*5|\s+(?:out\s+)?of\s+5|\s*点)?"),
    # "4 stars", "4 star", "4⭐", "four stars", "4 stars out of 5"
    re.compile(
        rf"(?P<n>[1-5]|one|two|three|four|five)\s*(?:stars?|{_STAR})(?:\s+(?:out\s+)?of\s+5)?"
    ),
    # keycap digit emoji: "4️⃣"
    re.compile(r"(?P<n>[1-5])\ufe0f?\u20e3"),
]
# "⭐⭐⭐⭐", "★★★★☆" (filled stars count; five symbols at most)
_STARS_ONLY = re.compile(r"[⭐★🌟☆]{1,5}")
_TRIM = " \t\r\n.!。！"


def parse_score(text: str) -> int | None:
    """The score 1-5 a message gives, or None if it is not (only) a score."""
    normal = unicodedata.normalize("NFKC", text).casefold().strip(_TRIM)
    # Emoji presentation selectors and spaces between stars carry no meaning.
    compact = normal.replace("\ufe0f", "")
    stars = re.sub(r"\s+", "", compact)
    if _STARS_ONLY.fullmatch(stars):
        filled = sum(1 for char in stars if char != "☆")
        return filled if 1 <= filled <= 5 else None
    for pattern in _SCORE_PATTERNS:
        match = pattern.fullmatch(normal) or pattern.fullmatch(compact)
        if match:
            value = match.group("n")
            return _WORDS.get(value) or int(value)
    return None
