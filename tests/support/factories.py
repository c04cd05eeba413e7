"""Small builders for the world a test needs."""

from itertools import count

from django.utils import timezone

from handoff.models import Contact, Conversation

_numbers = count(1)


def make_conversation(
    *, external_id: str | None = None, state: str = Conversation.State.BOT, **fields
) -> Conversation:
    n = next(_numbers)
    contact = Contact.objects.create(
        external_id=external_id or f"user-{n}",
        phone_number=f"+8190000{n:05d}",
        last_inbound_at=timezone.now(),  # the customer wrote: WhatsApp's window is open
    )
    return Conversation.objects.create(contact=contact, state=state, **fields)


def webhook_body(user_id: str, message: str, **extra) -> dict:
    return {"user_id": user_id, "phone_number": "+819012345678", "message": message, **extra}
