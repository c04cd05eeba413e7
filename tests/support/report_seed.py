"""A month of conversations and their report facts, written in bulk: for tests of the
reports (the figures, the export, the page) and for `make bench`'s reports phase.

Deterministic: conversation n is made at `start + n * step`, and every third is handed
over with a first response of a known length, so a test can compute what the report
must say by hand from the same numbers.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff.models import Contact, Conversation, ReportFact

Kind = ReportFact.Kind
State = Conversation.State


@dataclass(frozen=True)
class Seeded:
    conversations: int
    handed_over: int
    first_response_seconds: list[float]  # of the customer-initiated hand-overs, in order
    resolved_by_people: int
    kept_by_bot: int  # never handed over: all contained once a day has passed


def first_response_seconds(n: int) -> float:
    return 30.0 + (n * 37) % 1800


def seed_month(
    count: int,
    *,
    start: datetime,
    step: timedelta,
    agent_id: int | None = None,
    batch: int = 2000,
) -> Seeded:
    """`count` conversations from `start`, one every `step`: every third handed over
    (a keyword), claimed after a minute, answered after `first_response_seconds(n)`,
    resolved an hour after the hand-over; of the rest, even ones resolved by the bot,
    odd ones left with it (settled, so contained, once their window has passed)."""
    contacts = Contact.objects.bulk_create(
        [
            Contact(external_id=f"seed-{start:%Y%m%d%H%M}-{n}", phone_number=f"+8170{n:08d}")
            for n in range(count)
        ],
        batch_size=batch,
    )
    conversations = []
    for n, contact in enumerate(contacts):
        created = start + n * step
        handed = n % 3 == 0
        bot_resolved = not handed and n % 2 == 0
        conversations.append(
            Conversation(
                contact=contact,
                created_at=created,
                state=State.RESOLVED if handed or bot_resolved else State.BOT,
                escalated_at=created + timedelta(minutes=2) if handed else None,
                escalation_kind="keyword" if handed else "",
                resolved_at=created + timedelta(minutes=62)
                if handed
                else (created + timedelta(minutes=1) if bot_resolved else None),
                last_message_at=created + timedelta(minutes=1),
            )
        )
    made = Conversation.objects.bulk_create(conversations, batch_size=batch)
    facts, seconds, resolved = [], [], 0
    for n, conversation in enumerate(made):
        if n % 3:
            continue
        handed_at = conversation.escalated_at
        answer = first_response_seconds(n)
        seconds.append(answer)
        resolved += 1
        common = {"conversation": conversation, "agent_id": agent_id, "reason": "keyword"}
        facts += [
            ReportFact(
                kind=Kind.HANDOVER,
                started_at=conversation.created_at,
                ended_at=handed_at,
                seconds=120.0,
                **{**common, "agent_id": None},
            ),
            ReportFact(
                kind=Kind.ASSIGNMENT,
                started_at=handed_at,
                ended_at=handed_at + timedelta(minutes=1),
                seconds=60.0,
                **common,
            ),
            ReportFact(
                kind=Kind.FIRST_RESPONSE,
                started_at=handed_at,
                ended_at=handed_at + timedelta(seconds=answer),
                seconds=answer,
                **common,
            ),
            ReportFact(
                kind=Kind.RESOLUTION,
                started_at=handed_at,
                ended_at=handed_at + timedelta(hours=1),
                seconds=3600.0,
                **common,
            ),
        ]
    ReportFact.objects.bulk_create(facts, batch_size=batch)
    return Seeded(count, len(seconds), seconds, resolved, count - len(seconds))
