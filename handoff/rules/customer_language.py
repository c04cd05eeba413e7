"""Which language to write to a customer in, among those admins keep texts for.

In order: the language Braze sends with the message (the webhook's optional
`language`, a profile attribute), when we have texts for it; else the writing system
of what the customer wrote (kana is Japanese, hangul Korean, and so on), when one
language with texts is written in it; else the site's default. Latin script names no
language (English, Spanish and Indonesian share it), so it falls through to the
default rather than to a guess: a wrong language is worse than the default one.

Pure: no models, no settings; the selector passes in the languages and texts.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

# Unicode names of letters, by prefix, and the languages written in that script, most
# likely first. Han alone is Chinese or Japanese (a Japanese message nearly always
# carries kana too, which decides for Japanese).
SCRIPT_LANGUAGES = {
    "HIRAGANA": ("ja",),
    "KATAKANA": ("ja",),
    "HALFWIDTH KATAKANA": ("ja",),
    "HANGUL": ("ko",),
    "CJK UNIFIED IDEOGRAPH": ("zh", "ja"),
    "CYRILLIC": ("ru", "uk", "bg", "sr"),
    "ARABIC": ("ar", "fa", "ur"),
    "HEBREW": ("he",),
    "THAI": ("th",),
    "GREEK": ("el",),
    "DEVANAGARI": ("hi", "mr", "ne"),
    "BENGALI": ("bn",),
    "TAMIL": ("ta",),
    "GEORGIAN": ("ka",),
    "ARMENIAN": ("hy",),
}
KANA = ("HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA")


def normalized(code: str) -> str:
    """A language tag as texts are filed under it: lower case, hyphenated ("pt-BR",
    "pt_br" and " PT-br " are all "pt-br"); "" for nothing usable."""
    code = (code or "").strip().replace("_", "-").lower()
    return code if re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{1,8})*", code) else ""


def best_match(code: str, available: Iterable[str]) -> str | None:
    """The available language for `code`: the same tag, else the same language
    without the region ("pt-br" finds "pt"; "pt" finds "pt-br" when it is the only
    Portuguese), else None."""
    code = normalized(code)
    if not code:
        return None
    languages = {normalized(each) for each in available} - {""}
    if code in languages:
        return code
    primary = code.split("-", 1)[0]
    if primary in languages:
        return primary
    regional = sorted(each for each in languages if each.split("-", 1)[0] == primary)
    return regional[0] if regional else None


def script_language(texts: Iterable[str], available: Iterable[str]) -> str | None:
    """The available language the customer's messages are written in, judged by their
    letters' script; None for Latin script, digits and emoji only, or a script no
    available language is written in."""
    languages = {normalized(each) for each in available} - {""}
    scripts: Counter = Counter()
    for text in texts:
        for character in text:
            if character.isalpha() and (script := _script(character)):
                scripts[script] += 1
    if any(scripts[kana] for kana in KANA):
        scripts = Counter({"HIRAGANA": 1})  # kana among Han letters: Japanese
    for script, _count in scripts.most_common():
        for language in SCRIPT_LANGUAGES[script]:
            if found := best_match(language, languages):
                return found
    return None


def choose(*, sent: str, texts: Iterable[str], available: Iterable[str], default: str) -> str:
    """The language to answer in: Braze's `sent` language, else the messages' script,
    else `default` (the site's language), each only when texts exist for it; "en"
    when nothing else is available."""
    available = list(available)
    return (
        best_match(sent, available)
        or script_language(texts, available)
        or best_match(default, available)
        or normalized(default)
        or "en"
    )


def _script(character: str) -> str | None:
    name = unicodedata.name(character, "")
    for prefix in SCRIPT_LANGUAGES:
        if name.startswith(prefix):
            return prefix
    return None
