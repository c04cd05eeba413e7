"""Which active escalation rule, if any, sends a customer's message to the agents, and
the record of rules that ran past their time budget.

The matching itself is the pure `handoff.rules.escalation`; this module reads the active
rules and writes the timeout count. A regular-expression rule past its budget
(HANDOFF_REGEX_TIMEOUT_MS) is skipped for that message, counted on the rule for admin to
see, and logged without the customer's text. It must never let one pattern hold up the
routing of a message, nor write the customer's text to the log.
"""

import logging

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from handoff.models import EscalationRule
from handoff.rules.escalation import first_matching_rule

logger = logging.getLogger(__name__)


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
