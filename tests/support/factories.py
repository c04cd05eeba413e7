"""Small builders for the world a test needs."""

from itertools import count

from django.utils import timezone

from handoff.models import Contact, Conversation, Message

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


def customer_wrote(text: str, **extra) -> Conversation:
    """A new conversation whose customer wrote `text` (with the webhook's `extra`
    fields), already routed: what a hand-over reads the customer's language from."""
    conversation = make_conversation()
    Message.objects.create(
        conversation=conversation,
        contact=conversation.contact,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text=text,
        extra=extra,
        routing_state=Message.Routing.DONE,
    )
    return conversation


def webhook_body(user_id: str, message: str, **extra) -> dict:
    return {"user_id": user_id, "phone_number": "+819012345678", "message": message, **extra}
