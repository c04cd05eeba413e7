"""A month of conversations and their report facts, written in bulk: for tests of the
reports (the figures, the export, the page) and for `make bench`'s reports phase.

Deterministic: conversation n is made at `start + n * step`, and every third is handed
over with a first response of a known length, so a test can compute what the report
must say by hand from the same numbers.
"""

import math
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Varied:
    """What `seed_month` adds for a month like a real desk's, by conversation number n:
    agents, teams and topics in turn, `next_responses` answered customer messages after
    the first response, SLA outcomes against `sla_seconds`, every second resolution
    surveyed and every fourth answered. With `spread`, every duration is scattered
    around its plain value (a factor from e^-1.5 to e^1.5, to the microsecond, as
    measured times are), so percentiles rank distinct values rather than a handful."""

    agent_ids: Sequence[int] = ()
    team_ids: Sequence[int] = ()
    topics: Sequence[str] = ()
    next_per_conversation: int = 0
    sla_seconds: float = 900.0
    spread: bool = False

    def seconds(self, plain: float, n: int, salt: int = 0) -> float:
        if not self.spread:
            return plain
        position = ((n * 2654435761 + salt * 40503) % 10007) / 10007
        return round(plain * math.exp((position - 0.5) * 3), 6)

    @staticmethod
    def _turn(values: Sequence, n: int, default=None):
        return values[n % len(values)] if values else default

    def conversation(self, n: int) -> dict:
        return {"team_id": self._turn(self.team_ids, n), "topic": self._turn(self.topics, n, "")}

    def fact(self, n: int) -> dict:
        return {
            "agent_id": self._turn(self.agent_ids, n),
            "team_id": self._turn(self.team_ids, n),
            "topic": self._turn(self.topics, n, ""),
        }

    def survey(self, n: int) -> dict:
        return {
            "survey_sent": n % 2 == 0,
            "satisfaction_score": 1 + n % 5 if n % 4 == 0 else None,
            "business_seconds": self.seconds(3600.0 if n % 3 else 1800.0, n, 5),
        }

    def next_responses(self, n: int, after: datetime, common: dict) -> list[ReportFact]:
        facts = []
        for turn in range(self.next_per_conversation):
            wait = self.seconds(20.0 + (n * 13 + turn * 101) % 900, n, 10 + turn)
            asked = after + timedelta(minutes=5 * (turn + 1))
            facts.append(
                ReportFact(
                    kind=Kind.NEXT_RESPONSE,
                    started_at=asked,
                    ended_at=asked + timedelta(seconds=wait),
                    seconds=wait,
                    sla_met=wait <= self.sla_seconds,
                    **common,
                )
            )
        return facts


def seed_month(
    count: int,
    *,
    start: datetime,
    step: timedelta,
    agent_id: int | None = None,
    batch: int = 2000,
    handover_every: int = 3,
    varied: Varied | None = None,
) -> Seeded:
    """`count` conversations from `start`, one every `step`: every third (every
    `handover_every`-th) handed over (a keyword), claimed after a minute, answered after
    `first_response_seconds(n)`, resolved an hour after the hand-over; of the rest, even
    ones resolved by the bot, odd ones left with it (settled, so contained, once their
    window has passed). `varied` adds what a real month has beside that (the bench's
    volume): next responses, agents, teams, topics, SLA outcomes and survey answers."""
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
        handed = n % handover_every == 0
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
                **(varied.conversation(n) if varied else {}),
            )
        )
    made = Conversation.objects.bulk_create(conversations, batch_size=batch)
    facts, seconds, resolved = [], [], 0
    for n, conversation in enumerate(made):
        if n % handover_every:
            continue
        handed_at = conversation.escalated_at
        answer = (
            varied.seconds(first_response_seconds(n), n, 1) if varied else first_response_seconds(n)
        )
        seconds.append(answer)
        resolved += 1
        common = {"conversation": conversation, "agent_id": agent_id, "reason": "keyword"}
        extra = {}
        if varied:
            common |= varied.fact(n)
            extra = {"sla_met": answer <= varied.sla_seconds}
        facts += [
            ReportFact(
                kind=Kind.HANDOVER,
                started_at=conversation.created_at,
                ended_at=handed_at,
                seconds=varied.seconds(120.0, n, 2) if varied else 120.0,
                **{**common, "agent_id": None},
            ),
            ReportFact(
                kind=Kind.ASSIGNMENT,
                started_at=handed_at,
                ended_at=handed_at + timedelta(minutes=1),
                seconds=varied.seconds(60.0, n, 3) if varied else 60.0,
                **common,
            ),
            ReportFact(
                kind=Kind.FIRST_RESPONSE,
                started_at=handed_at,
                ended_at=handed_at + timedelta(seconds=answer),
                seconds=answer,
                **common,
                **extra,
            ),
            ReportFact(
                kind=Kind.RESOLUTION,
                started_at=handed_at,
                ended_at=handed_at + timedelta(hours=1),
                seconds=varied.seconds(3600.0, n, 4) if varied else 3600.0,
                **common,
                **(varied.survey(n) if varied else {}),
            ),
        ]
        if varied:
            facts += varied.next_responses(n, handed_at + timedelta(seconds=answer), common)
            if answer > varied.sla_seconds:
                breached = handed_at + timedelta(seconds=varied.sla_seconds)
                facts.append(
                    ReportFact(
                        kind=Kind.SLA_BREACH,
                        started_at=handed_at,
                        ended_at=breached,
                        seconds=varied.sla_seconds,
                        **{**common, "reason": Kind.FIRST_RESPONSE.value},
                    )
                )
    ReportFact.objects.bulk_create(facts, batch_size=batch)
    return Seeded(count, len(seconds), seconds, resolved, count - len(seconds))
