"""Which admin-configured phrase, if any, sends a customer's message to the agents."""

from collections.abc import Iterable

from handoff.models import EscalationRule
from handoff.text import compile_user_regex, contains_word, normalize, strip_edge_punctuation

Match = EscalationRule.Match


def rule_matches(rule: EscalationRule, normalized_text: str) -> bool:
    """Apply one rule to text already passed through `normalize`."""
    if rule.match == Match.REGEX:
        try:
            return compile_user_regex(rule.phrase).search(normalized_text) is not None
        except ValueError:
            return False  # saved before validation existed; admin shows the error on edit
    phrase = normalize(rule.phrase)
    if not phrase:
        return False
    if rule.match == Match.CONTAINS:
        return phrase in normalized_text
    if rule.match == Match.EXACT:
        return strip_edge_punctuation(normalized_text) == strip_edge_punctuation(phrase)
    return contains_word(normalized_text, phrase)


def first_matching_rule(text: str, rules: Iterable[EscalationRule]) -> EscalationRule | None:
    """The first rule, in the given (priority) order, that the message triggers."""
    normalized = normalize(text)
    if not normalized:
        return None
    return next((rule for rule in rules if rule_matches(rule, normalized)), None)


def matching_active_rule(text: str) -> EscalationRule | None:
    return first_matching_rule(text, EscalationRule.objects.filter(is_active=True))
