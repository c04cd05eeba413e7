"""Regular expressions that admins write (escalation rules): compiled, checked, matched.

The language is Python's `re` syntax, as the admin's help text says; matching runs on
the `regex` package, whose `timeout=` stops a search that backtracks past its budget
and whose `concurrent=True` releases the GIL meanwhile, so that one pattern and one
customer message cannot stall the webhook, the API and the websockets of the process.
Before a pattern is saved, `check` refuses the shapes known to backtrack
catastrophically and tries the pattern on adversarial messages within the budget.

This module must never run an admin's pattern without a time budget.
"""

import re
import string
import unicodedata
from collections.abc import Iterator, Sequence
from re import _constants as sre  # the stdlib's parser: private, but stable since 3.11
from re import _parser as sre_parser

import regex
from django.utils.translation import gettext as _

MAX_LENGTH = 500
# A repetition that may repeat this often (or without limit) counts as unbounded.
_MANY = 10
_BACKTRACKING_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
_REPEATS = (*_BACKTRACKING_REPEATS, sre.POSSESSIVE_REPEAT)
# Characters the structural check tries as the start of an alternative.
_SAMPLE = string.printable + "éßあアー漢１・。\u3000"


def normalize_pattern(pattern: str) -> str:
    """NFKC only: case is handled by IGNORECASE, because folding the pattern itself
    would turn escapes such as \\W, \\S or \\Z into different ones."""
    return unicodedata.normalize("NFKC", pattern.strip())


def compile_user_regex(pattern: str) -> regex.Pattern:
    """Compile an admin's regular expression, or raise ValueError that says why.

    Python's `re` judges the syntax (the documented language; `regex` would accept
    more, such as duplicate group names); `regex` compiles what it accepted.
    """
    if len(pattern) > MAX_LENGTH:
        raise ValueError(f"The expression is longer than {MAX_LENGTH} characters.")
    normalized = normalize_pattern(pattern)
    try:
        re.compile(normalized, re.IGNORECASE)
        return regex.compile(normalized, regex.IGNORECASE | regex.VERSION0)
    except (re.error, regex.error) as error:
        raise ValueError(f"Not a valid regular expression: {error}.") from error


def search(compiled: regex.Pattern, text: str, *, budget_seconds: float) -> bool:
    """Whether `compiled` occurs in `text`; raises TimeoutError past the budget.

    concurrent=True lets other threads (the event loop serving /healthz, the API and
    websockets) run while the search does.
    """
    return compiled.search(text, timeout=budget_seconds, concurrent=True) is not None


def check(pattern: str, *, budget_seconds: float, trial_chars: int) -> None:
    """Refuse, with the reason as a ValueError, a pattern that cannot be compiled, has
    a shape known to backtrack catastrophically, or runs past the budget on one of a
    few adversarial messages of `trial_chars` characters."""
    compiled = compile_user_regex(pattern)
    problem = backtracking_problem(pattern) or trial_problem(
        compiled, budget_seconds=budget_seconds, trial_chars=trial_chars
    )
    if problem:
        raise ValueError(problem)


# --- The structural check -------------------------------------------------------------


def backtracking_problem(pattern: str) -> str | None:
    """Why the pattern's shape is known to backtrack catastrophically, or None.

    Two shapes, each inside a repetition the engine may backtrack into: another
    unbounded repetition with nothing required beside it (`(a+)+`, `(a*)*`,
    `(\\w+\\s?)+`), and alternatives that can start on the same character, counting
    what follows them in the next round (`(a|a)*`, `(a|aa)+`, but not `(a|ab)*`).
    Either lets the engine split one run of text in exponentially many ways before
    it gives up. A pattern Python cannot parse is left to `compile_user_regex`.
    """
    try:
        tree = sre_parser.parse(normalize_pattern(pattern), re.IGNORECASE)
    except (re.error, RecursionError, OverflowError):
        return None
    for body in _backtracking_bodies(list(tree)):
        if _has_free_repeat(body):
            return _(
                "A repeated group holds another unlimited repetition with nothing "
                "required beside it, as in (a+)+ or (a*)*. On some messages matching "
                "would take exponentially long. Write it without the outer repetition "
                "(a+ instead of (a+)+)."
            )
        if _has_ambiguous_branch(body):
            return _(
                "Alternatives inside a repetition can match the same text, as in "
                "(a|a)* or (a|aa)+. On some messages matching would take exponentially "
                "long. Make each alternative start with something the others cannot."
            )
    return None


def _children(item) -> Iterator[list]:
    op, av = item
    if op in _REPEATS:
        yield list(av[2])
    elif op == sre.SUBPATTERN:
        yield list(av[3])
    elif op == sre.ATOMIC_GROUP:
        yield list(av)
    elif op == sre.BRANCH:
        yield from (list(alt) for alt in av[1])
    elif op in (sre.ASSERT, sre.ASSERT_NOT):
        yield list(av[1])
    elif op == sre.GROUPREF_EXISTS:
        yield list(av[1])
        if av[2] is not None:
            yield list(av[2])


def _backtracking_bodies(seq: list) -> Iterator[list]:
    """The body of every repetition in the tree that repeats often and backtracks."""
    for item in seq:
        op, av = item
        if op in _BACKTRACKING_REPEATS and _repeats_often(item):
            yield list(av[2])
        for child in _children(item):
            yield from _backtracking_bodies(child)


def _repeats_often(item) -> bool:
    op, av = item
    return op in _REPEATS and (av[1] == sre.MAXREPEAT or av[1] >= _MANY)


def _nullable_item(item) -> bool:
    """Whether the item can match the empty string."""
    op, av = item
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF):
        return True
    if op in _REPEATS:
        return av[0] == 0 or _nullable(av[2])
    if op == sre.BRANCH:
        return any(_nullable(alt) for alt in av[1])
    if op == sre.GROUPREF_EXISTS:
        return _nullable(av[1]) or av[2] is None or _nullable(av[2])
    if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
        return all(_nullable(child) for child in _children(item))
    return False


def _nullable(seq: Sequence) -> bool:
    return all(_nullable_item(item) for item in seq)


def _has_free_repeat(body: list) -> bool:
    """Whether the body is, apart from optional parts, one backtracking unbounded
    repetition, so that the outer and the inner repetition compete for the same text."""
    for index, item in enumerate(body):
        rest = body[:index] + body[index + 1 :]
        if not _nullable(rest):
            continue
        op, av = item
        if op in _BACKTRACKING_REPEATS and _repeats_often(item):
            return True
        if op == sre.SUBPATTERN and _has_free_repeat(list(av[3])):
            return True
        if op == sre.BRANCH and any(_has_free_repeat(list(alt)) for alt in av[1]):
            return True
    return False


def _branches(seq: list, after: list) -> Iterator[tuple[list, list]]:
    """Each alternation reached through groups only, with what follows it."""
    for index, item in enumerate(seq):
        op, av = item
        tail = seq[index + 1 :] + after
        if op == sre.BRANCH:
            yield [list(alt) for alt in av[1]], tail
        elif op == sre.SUBPATTERN:
            yield from _branches(list(av[3]), tail)


def _has_ambiguous_branch(body: list) -> bool:
    for alternatives, tail in _branches(body, []):
        # What an alternative starts with includes what follows it in this round and
        # the next round of the repetition.
        ways = [alt + tail + body for alt in alternatives]
        for first in range(len(ways)):
            for second in range(first + 1, len(ways)):
                if any(_can_start(ways[first], c) and _can_start(ways[second], c) for c in _SAMPLE):
                    return True
    return False


def _can_start(seq: Sequence, char: str) -> bool:
    for item in seq:
        if _item_can_start(item, char):
            return True
        if not _nullable_item(item):
            return False
    return False


def _same(code: int, char: str) -> bool:
    return chr(code).casefold() == char.casefold()


def _item_can_start(item, char: str) -> bool:
    op, av = item
    if op == sre.LITERAL:
        return _same(av, char)
    if op == sre.NOT_LITERAL:
        return not _same(av, char)
    if op == sre.ANY:
        return char != "\n"
    if op == sre.IN:
        return _in_class(av, char)
    if op in _REPEATS:
        return av[1] > 0 and _can_start(av[2], char)
    if op == sre.GROUPREF:
        return True  # unknown here: assume the worst
    if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP, sre.BRANCH, sre.GROUPREF_EXISTS):
        return any(_can_start(child, char) for child in _children(item))
    return False  # anchors and lookarounds consume nothing


_CATEGORIES = {
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_LINEBREAK: lambda c: c == "\n",
}
_NEGATED = {
    sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
    sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
    sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
    sre.CATEGORY_NOT_LINEBREAK: sre.CATEGORY_LINEBREAK,
}


def _in_class(items, char: str) -> bool:
    negate = False
    found = False
    for op, av in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            found = found or _same(av, char)
        elif op == sre.RANGE:
            found = found or any(av[0] <= ord(c) <= av[1] for c in {char.lower(), char.upper()})
        elif op == sre.CATEGORY:
            if av in _NEGATED:
                found = found or not _CATEGORIES[_NEGATED[av]](char)
            else:
                found = found or _CATEGORIES.get(av, lambda c: True)(char)
        else:
            found = True  # anything unknown: assume it can
    return found != negate


# --- The trial run --------------------------------------------------------------------


def trial_messages(compiled: regex.Pattern, *, trial_chars: int) -> list[str]:
    """Adversarial messages for a pattern: long runs of a character the pattern names
    (and a few common ones) that end in a character it likely does not expect, the
    input that makes a backtracking engine try every way before failing."""
    named = [c for c in compiled.pattern if c.isalnum() or c in "_-.@:/#"]
    chars = list(dict.fromkeys([*named, "a", "1", "あ"]))[:16]
    return [char * (trial_chars - 1) + "!" for char in chars]


def trial_problem(
    compiled: regex.Pattern, *, budget_seconds: float, trial_chars: int
) -> str | None:
    """Why the pattern fails the trial run (a search past the budget), or None."""
    for message in trial_messages(compiled, trial_chars=trial_chars):
        try:
            search(compiled, message, budget_seconds=budget_seconds)
        except TimeoutError:
            return _(
                "On a test message of %(count)s × “%(char)s” the search took longer than "
                "the time budget of %(ms)s ms, so messages like it would skip this rule. "
                "Simplify the expression."
            ) % {
                "count": f"{len(message) - 1:,}",
                "char": message[0],
                "ms": f"{budget_seconds * 1000:g}",
            }
    return None
