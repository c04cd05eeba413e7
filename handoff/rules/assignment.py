"""Who gets a waiting conversation: the pure ranking of the agents free to take it.

The assigner (services/assignment.py) reads who is free and hands them here; nothing
here reads a row. The order is the one agents can predict and a supervisor can
explain: most room first (capacity minus open conversations, so a part-timer with
capacity 2 is not buried under the same count as a full-timer with 8), then the one
whose last assignment is oldest (never assigned counts as oldest), then the lowest id,
so that two assigners looking at the same facts pick the same agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from handoff.rules.agents import AVAILABLE


@dataclass(frozen=True)
class FreeAgent:
    """An agent who is online and available right now, with their load (free to be
    given a conversation while below capacity: `room` > 0)."""

    agent_id: int
    username: str
    capacity: int
    open_count: int
    last_assigned_at: datetime | None
    team_ids: frozenset[int]

    @property
    def room(self) -> int:
        return self.capacity - self.open_count


def takes_more(*, status: str, open_count: int, capacity: int) -> bool:
    """Whether an online agent may be given another conversation: they chose available
    and hold fewer than their capacity."""
    return status == AVAILABLE and open_count < capacity


def eligible(agents: Iterable[FreeAgent], *, team_id: int | None, passed_over: int | None):
    """The free agents who may be given a conversation of `team_id` (None: any agent),
    leaving out the one the reply timer just took it from."""
    return [
        agent
        for agent in agents
        if (team_id is None or team_id in agent.team_ids) and agent.agent_id != passed_over
    ]


def ranked(agents: Iterable[FreeAgent]) -> list[FreeAgent]:
    """Most room first, then longest since their last assignment, then lowest id."""

    def key(agent: FreeAgent):
        never = agent.last_assigned_at is None
        return (-agent.room, not never, agent.last_assigned_at or datetime.min, agent.agent_id)

    return sorted(agents, key=key)


def explanation(chosen: FreeAgent, others: Iterable[FreeAgent]) -> dict:
    """What the assignment event records: who got it, their load after it, and how
    many others were free, so "why me?" has an answer in the history."""
    return {
        "to": chosen.username,
        "open_count": chosen.open_count + 1,
        "capacity": chosen.capacity,
        "others_free": sorted(
            agent.username for agent in others if agent.agent_id != chosen.agent_id
        ),
    }
