"""What applies to a team's conversations: its opening hours and reply timer, each
falling back to the settings' when the team has none of its own (and for conversations
of no team). Read per conversation by the reply timer and the SLA clocks. Never
writes.
"""

from dataclasses import dataclass

from handoff.models import HandoffSettings, Team
from handoff.rules.business_hours import BusinessHours
from handoff.selectors.opening_hours import business_hours_of, schedule_for


@dataclass(frozen=True)
class TeamRules:
    name: str | None  # None: no team (everyone's queue)
    hours: BusinessHours | None  # None: always open
    reply_timer_minutes: int | None  # None: no reply timer


def rules_for(team_id: int | None) -> TeamRules:
    settings_row = HandoffSettings.load()
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    schedule = schedule_for(team_id, settings_row)
    timer = team.reply_timer_minutes if team is not None else None
    return TeamRules(
        name=team.name if team is not None else None,
        hours=business_hours_of(schedule) if schedule is not None else None,
        reply_timer_minutes=timer or settings_row.reply_timer_minutes,
    )
