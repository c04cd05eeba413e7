"""Fill an empty installation with what a first look needs: logins, FAQ answers,
canned replies, a topic route and Braze campaigns (a template, a survey).

Idempotent, so `make run` calls it every time. The logins it prints are for a
local demo only; it refuses to run when DEBUG is false.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from handoff.models import BrazeCampaign, CannedReply, FaqEntry, HandoffSettings, TopicRoute

DEMO_ADMIN = ("admin", "handoff-admin")
DEMO_AGENTS = [("aiko", "Aiko", "handoff-agent"), ("ben", "Ben", "handoff-agent")]

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
        if not FaqEntry.objects.exists():
            FaqEntry.objects.bulk_create(FaqEntry(questions=q, answer=a) for q, a in DEMO_FAQ)
        # Only into an empty table, like the FAQ: replies an admin deleted stay deleted.
        if not CannedReply.objects.exists():
            CannedReply.objects.bulk_create(
                CannedReply(shortcut=s, title=t, text=x) for s, t, x in DEMO_CANNED_REPLIES
            )
        self._seed_braze_depth()
        self.stdout.write("Demo logins (local demo only):")
        self.stdout.write(f"  admin: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}")
        for username, _first, password in DEMO_AGENTS:
            self.stdout.write(f"  agent: {username} / {password}")

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
