"""What applies to a team's conversations: its opening hours, reply timer and SLA
policy, each falling back to the settings' when the team has none of its own (and for conversations
of no team). Read per conversation by the reply timer and the SLA clocks. Never
writes.
"""

from dataclasses import dataclass

from handoff.models import HandoffSettings, Team
from handoff.rules.business_hours import BusinessHours
from handoff.rules.sla import Targets
from handoff.selectors.opening_hours import business_hours_of, schedule_for


@dataclass(frozen=True)
class TeamRules:
    name: str | None  # None: no team (everyone's queue)
    hours: BusinessHours | None  # None: always open
    reply_timer_minutes: int | None  # None: no reply timer
    sla: Targets | None  # None: no SLA policy


def rules_for(team_id: int | None) -> TeamRules:
    settings_row = HandoffSettings.load()
    team = (
        Team.objects.select_related("sla_policy").filter(pk=team_id).first()
        if team_id is not None
        else None
    )
    schedule = schedule_for(team_id, settings_row)
    timer = team.reply_timer_minutes if team is not None else None
    policy = team.sla_policy if team is not None else None
    if policy is None and settings_row.sla_policy_id is not None:
        policy = settings_row.sla_policy
    return TeamRules(
        name=team.name if team is not None else None,
        hours=business_hours_of(schedule) if schedule is not None else None,
        reply_timer_minutes=timer or settings_row.reply_timer_minutes,
        sla=policy.targets() if policy is not None else None,
    )
