"""Which admin-configured phrase, if any, sends a customer's message to the agents.

A regular-expression rule is matched within a time budget (HANDOFF_REGEX_TIMEOUT_MS):
a pattern that runs past it is skipped for that message, counted on the rule for
admin to see, and logged without the customer's text. It must never let one pattern
hold up the routing of a message, nor write the customer's text to the log.
"""

import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from handoff import user_regex
from handoff.models import EscalationRule
from handoff.text import contains_word, normalize, strip_edge_punctuation

logger = logging.getLogger(__name__)

Match = EscalationRule.Match


def budget_seconds() -> float:
    return settings.HANDOFF_REGEX_TIMEOUT_MS / 1000


def rule_matches(
    rule: EscalationRule, normalized_text: str, *, budget: float | None = None
) -> bool:
    """Apply one rule to text already passed through `normalize`.

    Raises TimeoutError when a regular expression runs past `budget` seconds (the
    setting when None).
    """
    if rule.match == Match.REGEX:
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
    if rule.match == Match.CONTAINS:
        return phrase in normalized_text
    if rule.match == Match.EXACT:
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


def matching_active_rule(text: str, *, message_id: int | None = None) -> EscalationRule | None:
    """The active rule the message triggers; rules past the budget are recorded."""
    return first_matching_rule(
        text,
        EscalationRule.objects.filter(is_active=True),
        on_timeout=lambda rule: record_timeout(rule=rule, message_id=message_id),
    )


def record_timeout(*, rule: EscalationRule, message_id: int | None = None) -> None:
    """Count a match past the budget on the rule (admin shows it) and log it, naming
    the rule and the message's id but never its text."""
    EscalationRule.objects.filter(pk=rule.pk).update(
        timeout_count=F("timeout_count") + 1, last_timeout_at=timezone.now()
    )
    logger.warning(
        "Escalation rule %s (pattern %r) ran past its %s ms time budget on message %s "
        "and was skipped for it",
        rule.pk,
        rule.phrase,
        settings.HANDOFF_REGEX_TIMEOUT_MS,
        message_id if message_id is not None else "?",
    )
