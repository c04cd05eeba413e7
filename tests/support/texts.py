"""What customers are sent by handoff itself: admin's customer-text row in the
language, else the built-in text (after a transactional test's flush the rows the
migration wrote are gone, as in a database an admin emptied)."""

from handoff.rules import system_texts, wait_wording
from handoff.rules.wait_estimate import Estimate
from handoff.selectors import customer_texts


def customer_text(key: str, language: str = "en") -> str:
    return customer_texts.text(key, language)


def handover_text(position: int = 1, wait: Estimate | None = None, language: str = "en") -> str:
    """The hand-over message as a customer at `position` reads it; `wait` None: no
    agent who could serve them is at their desk (so the wait is not known)."""
    return system_texts.fill(
        customer_text(system_texts.HANDOVER, language),
        {"{position}": str(position), "{wait}": wait_wording.wait_text(wait, language)},
    )
