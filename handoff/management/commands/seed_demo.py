"""Fill an empty installation with what a first look needs: logins, FAQ answers,
canned replies, a topic route, Braze campaigns (a template, a survey) and a few
conversations in every state, so the inbox is not empty at first sight.

Idempotent, so `make run` calls it every time. The logins it prints are for a
local demo only; it refuses to run when DEBUG is false.

The conversations are written through the same services as real ones (webhook
intake, routing with the configured bot, claim, reply, resolve, survey answer), so
their events and states are what the product would have made. What they would have
sent to Braze is history, not work: those replies and profile updates are marked
sent, without a dispatch id, and never reach Braze (or the stand-in), on this run or
any later one.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff.models import (
    BrazeCampaign,
    CannedReply,
    Contact,
    Conversation,
    FaqEntry,
    HandoffSettings,
    Message,
    ProfileUpdate,
    TopicRoute,
)
from handoff.rules.payloads import InboundPayload
from handoff.services import conversations
from handoff.services.inbound import accept_inbound
from handoff.services.routing import route_next

DEMO_ADMIN = ("admin", "handoff-admin")
DEMO_AGENTS = [("aiko", "Aiko", "handoff-agent"), ("ben", "Ben", "handoff-agent")]
DEMO_SUPERVISOR = ("lead", "Lee", "handoff-lead")  # a team lead: the live desk and reports

DEMO_FAQ = [
    (
        "What are your opening hours?\nWhen are you open?\nopening times\n"
        "営業時間は？\n何時から何時まで営業していますか",
        "We're open Monday to Friday, 9:00-18:00 (JST). 営業時間は平日9時〜18時です。",
    ),
    (
        "How do I reset my password?\nI forgot my password\npassword reset\n"
        "パスワードを忘れました\nパスワードの再設定",
        "You can reset your password at https://example.com/reset - the link is valid for 1 hour.",
    ),
    (
        "Where is my order?\nTrack my order\norder status\n注文はどこですか\n配送状況を知りたい",
        "You can track your order with the link in your confirmation email. "
        "Tell me if it hasn't arrived within 5 days and I'll get someone to look.",
    ),
    (
        "How much is shipping?\nshipping cost\ndelivery fee\n送料はいくらですか\n配送料",
        "Shipping is free over ¥5,000; otherwise it's ¥500 within Japan.",
    ),
]

# (shortcut, title, text): what agents type most, inserted with "/shortcut".
DEMO_CANNED_REPLIES = [
    ("hello", "Greeting", "Hi, thanks for waiting! I'm looking at your message now."),
    (
        "order",
        "Ask for the order number",
        "Could you send me your order number? It starts with # and is in your confirmation email.",
    ),
    (
        "refund",
        "Refund timing",
        "Your refund is on its way. It usually shows on your statement within 5-7 business days.",
    ),
    (
        "bye",
        "Closing",
        "Is there anything else I can help with? If not, I'll close this chat. Have a great day!",
    ),
]

# Campaigns the local stand-in Braze accepts like any other: a template for customers
# whose 24-hour window has closed, and a satisfaction survey sent after resolution.
DEMO_CAMPAIGNS = [
    {
        "key": "order_update",
        "name": "Order update (template)",
        "campaign_id": "demo-order-update-template",
        "kind": BrazeCampaign.Kind.TEMPLATE,
        "property_names": "order_number\nstatus",
        "description": "Hello! An update on your order {{order_number}}: {{status}}. "
        "Reply here if you have any questions.",
    },
    {
        "key": "survey",
        "name": "Satisfaction survey",
        "campaign_id": "demo-satisfaction-survey",
        "kind": BrazeCampaign.Kind.RESPONSE,
        "property_names": "external_system_msg_body",
        "is_survey": True,
        "description": "How did we do? Reply with a score from 1 (poor) to 5 (great).",
    },
]


# The demo's customers and what each one wrote, in order; external ids no real
# customer and not the stand-in page's default customer ("demo-customer-1") has.
DEMO_BOT_CHAT = (
    "demo-seed-hana",
    "Hana Suzuki",
    ["Hi! What are your opening hours?", "And how much is shipping?"],
)
DEMO_KEYWORD = (
    "demo-seed-kenji",
    "Kenji Tanaka",
    ["My parcel arrived damaged. Can I talk to a human, please?"],
)
DEMO_FALLBACK = (
    "demo-seed-maria",
    "Maria Lopez",
    ["Can I change the colour of my order?", "I ordered the blue one but want green."],
)
DEMO_ASSIGNED = (
    "demo-seed-yuki",
    "Yuki Sato",
    ["Where is my order?", "It has been a week. I need an agent."],
)
DEMO_RESOLVED = (
    "demo-seed-tom",
    "Tom Becker",
    ["I need to speak to a real person about a refund."],
)
DEMO_ASSIGNED_REPLIES = [
    "Hi Yuki, I'm Aiko and I'll look into this for you.",
    "Could you send me your order number? It starts with # and is in your confirmation email.",
]
DEMO_ASSIGNED_ANSWER = "Sure, it's #4711."
DEMO_RESOLVED_REPLY = "Your refund is on its way. It usually shows within 5-7 business days."
DEMO_SCORE = "5"
DEMO_CUSTOMERS = [DEMO_BOT_CHAT, DEMO_KEYWORD, DEMO_FALLBACK, DEMO_ASSIGNED, DEMO_RESOLVED]


class Command(BaseCommand):
    help = "Create demo logins, FAQ entries and canned replies (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates well-known passwords; it runs only with DEBUG=true."
            )
        User = get_user_model()
        username, password = DEMO_ADMIN
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, "", password)
        agents = Group.objects.get(name="Agents")
        for username, first_name, password in DEMO_AGENTS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(agents)
        username, first_name, password = DEMO_SUPERVISOR
        lead, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first_name}
        )
        if created:
            lead.set_password(password)
            lead.save()
        supervisors, _ = Group.objects.get_or_create(name="Supervisors")  # made by 0020
        supervisors.permissions.add(
            Permission.objects.get(content_type__app_label="handoff", codename="supervise")
        )
        lead.groups.add(supervisors)
        if not FaqEntry.objects.exists():
            FaqEntry.objects.bulk_create(FaqEntry(questions=q, answer=a) for q, a in DEMO_FAQ)
        # Only into an empty table, like the FAQ: replies an admin deleted stay deleted.
        if not CannedReply.objects.exists():
            CannedReply.objects.bulk_create(
                CannedReply(shortcut=s, title=t, text=x) for s, t, x in DEMO_CANNED_REPLIES
            )
        self._seed_braze_depth()
        self._seed_conversations(User.objects.get(username=DEMO_AGENTS[0][0]))
        self.stdout.write("Demo logins (local demo only):")
        self.stdout.write(f"  admin: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}")
        for username, _first, password in DEMO_AGENTS:
            self.stdout.write(f"  agent: {username} / {password}")
        self.stdout.write(
            f"  supervisor: {DEMO_SUPERVISOR[0]} / {DEMO_SUPERVISOR[2]} "
            "(the live desk at /supervisor/, reports at /reports/)"
        )

    def _seed_braze_depth(self) -> None:
        """A billing route (post a message with "topic": "billing" to see it wait with
        its label) and the two campaigns; only into empty tables, like the rest."""
        if not TopicRoute.objects.exists():
            TopicRoute.objects.create(
                topic="billing",
                destination=TopicRoute.Destination.AGENTS,
                queue_label="Billing",
                trigger_words="INVOICE, BILLING, 請求",
            )
        if not BrazeCampaign.objects.exists():
            for fields in DEMO_CAMPAIGNS:
                BrazeCampaign.objects.create(**fields)
            texts = HandoffSettings.load()
            texts.survey_campaign = BrazeCampaign.objects.get(key="survey")
            texts.save()

    @transaction.atomic
    def _seed_conversations(self, agent) -> None:
        """Five customers, one per state, once: a re-run (every `make run`) leaves
        them, and whatever the user did with them, as they are.

        One transaction: a running server's workers see none of it before it is all
        history, so they neither route these messages nor send their replies, and a
        failure leaves nothing half-seeded."""
        ids = [external_id for external_id, _name, _texts in DEMO_CUSTOMERS]
        if Contact.objects.filter(external_id__in=ids).exists():
            return
        messages = iter(range(1, 1000))

        def write(customer, text: str) -> int:
            external_id, name, _texts = customer
            accepted = accept_inbound(
                InboundPayload(
                    user_id=external_id,
                    phone_number=f"+8190000{ids.index(external_id) + 1:05d}",
                    name=name,
                    message=text,
                    message_id=f"demo-seed-{next(messages)}",
                )
            )
            while route_next():  # the bot and the escalation rules, as the workers would
                pass
            return accepted.conversation_id

        for customer in (DEMO_BOT_CHAT, DEMO_KEYWORD, DEMO_FALLBACK):
            for text in customer[2]:
                write(customer, text)
        for text in DEMO_ASSIGNED[2]:
            assigned = write(DEMO_ASSIGNED, text)
        # Claimed from the queue (or taken from the bot if an admin removed the rule).
        conversations.take_over(conversation_id=assigned, agent=agent)
        for reply in DEMO_ASSIGNED_REPLIES:
            conversations.send_agent_reply(conversation_id=assigned, agent=agent, text=reply)
        write(DEMO_ASSIGNED, DEMO_ASSIGNED_ANSWER)
        resolved = write(DEMO_RESOLVED, DEMO_RESOLVED[2][0])
        conversations.take_over(conversation_id=resolved, agent=agent)
        conversations.send_agent_reply(
            conversation_id=resolved, agent=agent, text=DEMO_RESOLVED_REPLY
        )
        conversations.resolve(conversation_id=resolved, agent=agent)
        write(DEMO_RESOLVED, DEMO_SCORE)  # the survey's answer
        self._mark_history_sent(ids)
        states = dict(
            Conversation.objects.filter(contact__external_id__in=ids).values_list(
                "contact__name", "state"
            )
        )
        self.stdout.write(
            "Demo conversations: " + ", ".join(f"{n} ({s})" for n, s in sorted(states.items()))
        )

    def _mark_history_sent(self, external_ids: list[str]) -> None:
        """The seeded replies and profile updates happened before this demo began:
        marked sent (no dispatch id: Braze never saw them) so that no worker sends
        them to Braze, real or stand-in, now or on a later start."""
        now = timezone.now()
        pending = Q(contact__external_id__in=external_ids)
        Message.objects.filter(
            pending, direction=Message.Direction.OUTBOUND, delivery_state__isnull=False
        ).update(
            delivery_state=Message.Delivery.SENT,
            sent_at=now,
            dispatch_id="",
            claimed_until=None,
            next_attempt_at=None,
        )
        ProfileUpdate.objects.filter(pending).update(
            state=ProfileUpdate.State.SENT, sent_at=now, claimed_until=None
        )
