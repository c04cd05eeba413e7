"""Who counts as an agent: an active user with the "answer conversations" permission."""

ANSWER_PERMISSION = "handoff.answer_conversations"


def is_agent(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.has_perm(ANSWER_PERMISSION)
    )


def display_name(user) -> str:
    """The name the inbox shows for an agent: the full name, else the username."""
    return user.get_full_name() or user.get_username()
