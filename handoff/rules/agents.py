"""Who counts as an agent (an active user with the "answer conversations" permission),
the name the inbox shows for one, and the pure rules of an agent's status and capacity.

Nothing here reads a row: callers hand in what they know (the chosen status, whether a
socket is open, the capacity set in admin) and get the answer.
"""

ANSWER_PERMISSION = "handoff.answer_conversations"
SUPERVISE_PERMISSION = "handoff.supervise"

# What an agent chooses in the inbox; `offline` is never chosen: it follows from having
# no inbox socket open (after a grace period, live/presence.py).
AVAILABLE = "available"
AWAY = "away"
OFFLINE = "offline"
CHOSEN_STATUSES = (AVAILABLE, AWAY)
# The most open conversations an agent can be given; a larger number is a typo.
MIN_CAPACITY = 1
MAX_CAPACITY = 999
# The longest reply timer a team can set: a week (a longer wait is no timer at all).
MAX_TIMER_MINUTES = 7 * 24 * 60


def is_agent(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.has_perm(ANSWER_PERMISSION)
    )


def may_report(user) -> bool:
    """Staff and supervisors read reports and exports; agents do not (their
    colleagues' figures are their lead's business)."""
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and (user.is_staff or user.has_perm(SUPERVISE_PERMISSION))
    )


def may_watch(user) -> bool:
    """Who may open the live socket: agents, who also take part (presence, typing),
    and staff and supervisors, who only watch (the supervisor view)."""
    return is_agent(user) or may_report(user)


def display_name(user) -> str:
    """The name the inbox shows for an agent: the full name, else the username."""
    return user.get_full_name() or user.get_username()


def shown_status(chosen: str, *, online: bool) -> str:
    """What the others see: the agent's choice while they are online, else offline."""
    return chosen if online else OFFLINE


def capacity_problem(value) -> str | None:
    """Why `value` cannot be a capacity, or None: a whole number from 1 to 999."""
    if type(value) is not int:
        return "must be a whole number"
    if not MIN_CAPACITY <= value <= MAX_CAPACITY:
        return f"must be from {MIN_CAPACITY} to {MAX_CAPACITY}; got {value}"
    return None
