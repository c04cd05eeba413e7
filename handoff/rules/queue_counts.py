"""The inbox tabs' counts for one agent, from the desk's counts read once for everyone.

The inbox used to ask `GET /api/counts/` after every `conversation.updated` (at most
every 300 ms): with 200 agents and 20 hand-overs a second that is some 600 requests a
second, each counting the whole conversations table. A web process now reads the
counts once for all its sockets (live/counts.py) and each socket works out its own
here: the tabs differ between agents only by the teams whose queue they see and the
conversations they hold. The definition is the API's (selectors/inbox.counts without
a label), and tests/test_live_counts.py holds the two to the same answer.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

# The events after which a tab's count may differ: a conversation opened, changed
# state, team or assignee, or was erased.
COUNT_CHANGING = frozenset({"conversation.updated", "conversation.erased"})


@dataclass(frozen=True)
class DeskCounts:
    """Every queue's size as one read saw it."""

    by_state: Mapping[str, int]  # conversations in each state
    waiting_by_team: Mapping[int | None, int]  # waiting conversations per team (None: no team)
    assigned_to: Mapping[int, int]  # assigned conversations per agent id
    teams_of: Mapping[int, frozenset[int]]  # each team member's team ids
    staff: frozenset[int] = field(default_factory=frozenset)  # they see every team's queue


def changes_counts(event: dict) -> bool:
    return event.get("type") in COUNT_CHANGING


def counts_for(desk: DeskCounts, agent_id: int) -> dict[str, int]:
    """The five tabs as `GET /api/counts/` gives them to this agent: waiting (no
    team's and their teams', every team's for staff), mine, bot, resolved, all."""
    if agent_id in desk.staff:
        waiting = sum(desk.waiting_by_team.values())
    else:
        teams = desk.teams_of.get(agent_id, frozenset())
        waiting = sum(
            count
            for team_id, count in desk.waiting_by_team.items()
            if team_id is None or team_id in teams
        )
    return {
        "waiting": waiting,
        "mine": desk.assigned_to.get(agent_id, 0),
        "bot": desk.by_state.get("bot", 0),
        "resolved": desk.by_state.get("resolved", 0),
        "all": sum(desk.by_state.values()),
    }
