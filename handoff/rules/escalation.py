"""Whether an escalation rule's phrase matches a customer's message: the matching alone.

Phrases compare through `handoff.rules.text` (so "ＡＧＥＮＴ" is "agent"), and a
regular expression runs within a time budget (HANDOFF_REGEX_TIMEOUT_MS) through
`handoff.rules.user_regex`. Pure: rules and text in, a rule or None out; which rules
are active and the count of timeouts are `handoff.services.escalation`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.conf import settings

from handoff.rules import user_regex
from handoff.rules.text import contains_word, normalize, strip_edge_punctuation

if TYPE_CHECKING:
    from handoff.models import EscalationRule

# EscalationRule.Match's values (a TextChoices member equals its value).
CONTAINS, WORD, EXACT, REGEX = "contains", "word", "exact", "regex"


def budget_seconds() -> float:
    return settings.HANDOFF_REGEX_TIMEOUT_MS / 1000


def rule_matches(
    rule: EscalationRule, normalized_text: str, *, budget: float | None = None
) -> bool:
    """Apply one rule to text already passed through `normalize`.

    Raises TimeoutError when a regular expression runs past `budget` seconds (the
    setting when None).
    """
    if rule.match == REGEX:
        try:
            compiled = user_regex.compile_user_regex(rule.phrase)
        except ValueError:
            return False  # saved before validation existed; admin shows the error on edit
        return user_regex.search(
            compiled, normalized_text, budget_seconds=budget_seconds() if budget is None else budget
        )
    phrase = normalize(rule.phrase)
    if not phrase:
        return False
    if rule.match == CONTAINS:
        return phrase in normalized_text
    if rule.match == EXACT:
        return strip_edge_punctuation(normalized_text) == strip_edge_punctuation(phrase)
    return contains_word(normalized_text, phrase)


def first_matching_rule(
    text: str,
    rules: Iterable[EscalationRule],
    *,
    budget: float | None = None,
    on_timeout: Callable[[EscalationRule], None] | None = None,
) -> EscalationRule | None:
    """The first rule, in the given (priority) order, that the message triggers.

    A rule past the time budget is passed over as if it did not match, and handed to
    `on_timeout` at once (before the next rule runs), so that admin sees it even if
    the routing of the message dies later.
    """
    normalized = normalize(text)
    if not normalized:
        return None
    for rule in rules:
        try:
            if rule_matches(rule, normalized, budget=budget):
                return rule
        except TimeoutError:
            if on_timeout is not None:
                on_timeout(rule)
    return None
