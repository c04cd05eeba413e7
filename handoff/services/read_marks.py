"""Read marks: how far each agent has read each conversation (the unread dots).

A mark only ever moves forward: a slow request that marks an older message (a page
that loaded before a new message arrived) must not bring back a dot already cleared.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from handoff.models import ConversationRead


@transaction.atomic
def mark_read(*, agent: AbstractBaseUser, conversation_id: int, message_id: int) -> None:
    """Record that `agent` has read the conversation up to `message_id`."""
    now = timezone.now()
    mark, created = ConversationRead.objects.get_or_create(
        agent=agent,
        conversation_id=conversation_id,
        defaults={"last_read_message_id": message_id, "read_at": now},
    )
    if not created:
        ConversationRead.objects.filter(pk=mark.pk, last_read_message_id__lt=message_id).update(
            last_read_message_id=message_id, read_at=now
        )
