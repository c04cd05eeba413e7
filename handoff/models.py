"""The data handoff keeps: customers, their conversations, messages and the audit trail.

Models hold data, constraints and small derived properties. Every change of state
goes through a function in `handoff.services`, which also records the event and
tells the agents; nothing here sends, routes or decides.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from handoff.rules import (
    business_hours,
    customer_language,
    opening_text,
    sla,
    system_texts,
    user_regex,
)
from handoff.rules.agents import MAX_CAPACITY, MAX_TIMER_MINUTES, MIN_CAPACITY
from handoff.rules.campaign_properties import check_campaign_properties
from handoff.rules.payloads import MAX_MESSAGE_CHARS


class Contact(models.Model):
    """A WhatsApp customer as Braze knows them (by external_id)."""

    external_id = models.CharField(_("Braze external_id"), max_length=255, unique=True)
    phone_number = models.CharField(_("phone number"), max_length=64)
    name = models.CharField(_("WhatsApp profile name"), max_length=255, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # Opens WhatsApp's 24-hour customer service window.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # last_inbound_at before the latest message, moved here by the webhook's own UPDATE:
    # it tells the webhook, without a query, whether an earlier copy of the message
    # (through another Braze campaign) could still be within the merge window.
    previous_inbound_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Dedup keys of copies merged into a stored message (the same message through a
    # second Braze campaign): {key: {"message": id, "conversation": id, "at": iso}}.
    # Braze retries a copy for about 30 minutes, long after the merge window; returned
    # by the webhook's own UPDATE, so recognising such a retry costs no query.
    merged_copy_keys = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["phone_number"]), models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name or self.phone_number or self.external_id


class Conversation(models.Model):
    """One support episode with a contact, from first message to resolution."""

    class State(models.TextChoices):
        BOT = "bot", _("bot")
        WAITING = "waiting", _("waiting for an agent")
        ASSIGNED = "assigned", _("assigned")
        RESOLVED = "resolved", _("resolved")

    class EscalationKind(models.TextChoices):
        KEYWORD = "keyword", _("keyword")
        BOT_FALLBACK = "bot_fallback", _("bot could not answer")
        BOT_HANDOFF = "bot_handoff", _("bot handed over")
        BOT_ERROR = "bot_error", _("bot failed")
        AGENT_TAKEOVER = "agent_takeover", _("agent took over")
        TOPIC = "topic", _("topic routed to agents")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    state = models.CharField(max_length=16, choices=State.choices, default=State.BOT)
    # PROTECT: an agent who owns conversations is deactivated, not deleted, so an
    # assigned conversation never loses its owner (admin explains why it refuses).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_conversations",
    )
    escalation_kind = models.CharField(
        max_length=32, choices=EscalationKind.choices, blank=True, default=""
    )
    escalation_detail = models.CharField(max_length=500, blank=True, default="")
    # The webhook's routing hint (a keyword campaign's `topic`), and the queue label
    # its route gives agents; both empty on the default route.
    topic = models.CharField(max_length=100, blank=True, default="")
    queue_label = models.CharField(max_length=60, blank=True, default="")
    # The team whose queue it waits in, from its route; None: everyone's.
    team = models.ForeignKey(
        "Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # Since when the customer has waited for an agent's reply (hand-over, or their
    # first message after the last agent reply); None while nobody owes them one.
    waiting_since = models.DateTimeField(null=True, blank=True)
    # When the reply timer takes the conversation from its assignee. Its value is also
    # the timer's episode: a reply or a new assignment changes it, so a firing that
    # read the old value matches nothing.
    reply_due_at = models.DateTimeField(null=True, blank=True)
    # The agent the reply timer took it from: auto-assignment gives it to someone
    # else (the agent may still claim it back). Cleared when it is assigned again.
    passed_over = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The first agent reply to the customer since the hand-over (notes do not count):
    # it stops the first-response clock. Cleared by a new hand-over.
    first_reply_at = models.DateTimeField(null=True, blank=True)
    # SLA clocks (services/sla.py, rules/sla.py). `sla_clocks` holds each running
    # clock with its target snapshotted when it started, so editing a policy never
    # rewrites a running clock; `sla_breached` the kinds whose breach is recorded for
    # their current run. The shown status is the nearest clock (a breached one
    # first); `sla_check_at` is the next instant it changes (the scanner's key).
    sla_clocks = models.JSONField(default=dict, blank=True)
    sla_breached = models.JSONField(default=list, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_kind = models.CharField(
        max_length=16, blank=True, default="", choices=[(k.value, k.value) for k in sla.Kind]
    )
    sla_state = models.CharField(
        max_length=10, blank=True, default="", choices=[(s.value, s.value) for s in sla.State]
    )
    sla_check_at = models.DateTimeField(null=True, blank=True)
    # Consecutive customer messages the bot could not answer; reset by any answer.
    bot_misses = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    escalated_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A satisfaction survey campaign went out after resolution; the customer's score
    # (1-5) answers it and is recorded here, not routed as a new conversation.
    survey_sent_at = models.DateTimeField(null=True, blank=True)
    # When the customer's closing WhatsApp window was acted on (re-engaged or alerted).
    window_alerted_at = models.DateTimeField(null=True, blank=True)
    # The place in the queue the customer was last told, when, and when to look again
    # whether to tell them their new one (services/queue_updates.py).
    place_told_at = models.DateTimeField(null=True, blank=True)
    place_told_position = models.PositiveIntegerField(null=True, blank=True)
    place_check_at = models.DateTimeField(null=True, blank=True)
    # Set while the customer waits at risk of their WhatsApp window closing before
    # they are served (rules/queue_order.py): their window's close, which the order
    # serves them by. Kept current by services/window_priority.py.
    serve_by = models.DateTimeField(null=True, blank=True)
    satisfaction_score = models.PositiveSmallIntegerField(null=True, blank=True)
    satisfaction_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=~Q(state="resolved"),
                name="one_open_conversation_per_contact",
            ),
            models.CheckConstraint(
                condition=~Q(state="assigned") | Q(assignee__isnull=False),
                name="assigned_conversation_has_assignee",
            ),
            models.CheckConstraint(
                condition=Q(satisfaction_score__isnull=True)
                | Q(satisfaction_score__gte=1, satisfaction_score__lte=5),
                name="satisfaction_score_1_to_5",
            ),
        ]
        indexes = [
            # The inbox's queues: waiting oldest first, mine, bot, resolved newest first.
            models.Index(fields=["state", "escalated_at"], name="conv_state_escalated"),
            models.Index(fields=["state", "serve_by", "escalated_at"], name="conv_serving_order"),
            models.Index(fields=["state", "team", "escalated_at"], name="conv_team_queue"),
            models.Index(fields=["state", "reply_due_at"], name="conv_reply_due"),
            models.Index(fields=["sla_check_at"], name="conv_sla_check"),
            models.Index(fields=["state", "place_check_at"], name="conv_place_check"),
            models.Index(fields=["assignee", "state", "last_message_at"], name="conv_assignee"),
            models.Index(fields=["state", "last_message_at"], name="conv_state_recent"),
            models.Index(fields=["contact", "created_at"], name="conv_contact_history"),
            models.Index(fields=["state", "resolved_at"], name="conv_state_resolved"),
            models.Index(fields=["last_message_at"], name="conv_recent"),
            # Reports: a range's conversations by creation, and the export's keyset.
            models.Index(fields=["created_at", "id"], name="conv_created"),
        ]
        permissions = [("answer_conversations", _("Can answer conversations"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact} ({self.state})"

    @property
    def escalation_reason(self) -> str:
        """The typed reason agents see: `keyword:<phrase>`, `bot_fallback`, ..."""
        if not self.escalation_kind:
            return ""
        if self.escalation_kind in (self.EscalationKind.KEYWORD, self.EscalationKind.TOPIC):
            return f"{self.escalation_kind}:{self.escalation_detail}"
        return self.escalation_kind


class Message(models.Model):
    """A message from or to the customer.

    Outbound rows are the durable record of what must still be sent: background
    delivery reads their delivery state, never a queue, so a restart loses nothing.
    Inbound rows likewise carry their routing state until the bot or rules took them.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", _("from customer")
        OUTBOUND = "out", _("to customer")

    class AuthorKind(models.TextChoices):
        CUSTOMER = "customer", _("customer")
        BOT = "bot", _("bot")
        AGENT = "agent", _("agent")
        SYSTEM = "system", _("system")

    class Delivery(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        RETRYING = "retrying", _("retrying")
        FAILED = "failed", _("failed")

    class Routing(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")

    PENDING_DELIVERY = (Delivery.QUEUED, Delivery.RETRYING)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # Denormalised from the conversation: per-customer order and de-duplication
    # must hold across the customer's conversations.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField(blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Inbound only. `topic` is the webhook's routing hint for this very message.
    topic = models.CharField(max_length=100, blank=True, default="")
    external_message_id = models.CharField(max_length=255, blank=True, default="")
    # NULL, not "", when absent: the unique constraint must ignore messages without one.
    dedup_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # NULL on outbound rows, as delivery_state is on inbound ones.
    routing_state = models.CharField(max_length=8, choices=Routing.choices, null=True, blank=True)  # noqa: DJ001

    # Outbound only. No campaign: the settings' reply campaign with the text in
    # BRAZE_MESSAGE_PROPERTY. A campaign: sent through it with these trigger
    # properties (a template needs no open 24-hour window). PROTECT: a campaign
    # that carried messages is deactivated, never deleted, so their record holds.
    # No index: only deleting a campaign looks messages up by it (rare, and PROTECT
    # refuses it anyway), while every message insert would pay for one.
    campaign = models.ForeignKey(
        "BrazeCampaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
    )
    campaign_properties = models.JSONField(default=dict, blank=True)
    delivery_state = models.CharField(max_length=8, choices=Delivery.choices, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    dispatch_id = models.CharField(max_length=255, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    # Background work: a worker owns the row until this time (a lease, so a killed
    # worker's row is taken up again once it lapses).
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "dedup_key"],
                condition=Q(dedup_key__isnull=False),
                name="inbound_dedup_key_unique_per_contact",
            ),
            models.CheckConstraint(
                condition=Q(direction="in", delivery_state__isnull=True)
                | Q(direction="out", routing_state__isnull=True),
                name="message_state_matches_direction",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "id"], name="msg_transcript"),
            # Not partial indexes: Django binds the state values as parameters, and
            # SQLite uses a partial index only for literal values (it scanned the
            # whole table instead). Rows in a final state cost only index space.
            models.Index(
                fields=["delivery_state", "next_attempt_at", "id"], name="msg_delivery_due"
            ),
            models.Index(
                fields=["contact", "delivery_state", "id"], name="msg_delivery_per_contact"
            ),
            models.Index(fields=["routing_state", "id"], name="msg_routing_queue"),
            models.Index(fields=["contact", "routing_state", "id"], name="msg_routing_pending"),
            models.Index(fields=["delivery_state", "created_at"], name="msg_delivery_failed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_author_kind_display()}: {self.text[:60]}"


class ConversationEvent(models.Model):
    """The audit trail: who changed what in a conversation, when and why."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("opened")
        ESCALATED = "escalated", _("escalated")
        CLAIMED = "claimed", _("claimed")
        TRANSFERRED = "transferred", _("transferred")
        RELEASED = "released", _("released to the queue")
        TAKEN_OVER = "taken_over", _("taken over from the bot")
        RESOLVED = "resolved", _("resolved")
        BOT_REPLY_DROPPED = "bot_reply_dropped", _("bot reply dropped")
        DELIVERY_FAILED = "delivery_failed", _("delivery failed")
        DELIVERY_RETRIED = "delivery_retried", _("delivery retried by hand")
        DUPLICATE_MERGED = "duplicate_merged", _("same message from another campaign merged")
        REOPENED = "reopened", _("reopened")
        SATISFACTION = "satisfaction", _("satisfaction answered")
        ASSIGNED = "assigned", _("assigned by handoff")
        RETURNED = "returned", _("returned to the queue")
        SLA_BREACHED = "sla_breached", _("SLA target missed")
        WINDOW_CLOSING = "window_closing", _("WhatsApp window closing unanswered")
        PRIORITIZED = "prioritized", _("moved ahead: WhatsApp window closing")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_kind = models.CharField(max_length=10, choices=Message.AuthorKind.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="event_timeline")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"


class Note(models.Model):
    """A private note agents write on a conversation: never sent, never shown to a bot.

    Its own table, not a Message row: message rows are the delivery queue (workers
    claim and send them, bots read them as the transcript), so a note is unsendable
    by construction rather than by a filter someone might forget.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    # SET_NULL, not PROTECT: deleting a user must not be blocked by what they wrote.
    # author_name keeps who wrote it readable after that.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    author_name = models.CharField(max_length=150)
    text = models.TextField(max_length=MAX_MESSAGE_CHARS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="note_timeline")]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.text[:60]}"


class NoteMention(models.Model):
    """An agent a note mentioned (and notified). Kept by id, so a renamed agent is still
    the one meant; a deleted agent's mentions go with them."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="mentions")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="note_mentions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["note", "agent"], name="one_mention_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in note {self.note_id}"


class EscalationRule(models.Model):
    """A phrase that hands a bot conversation to people when the customer writes it."""

    class Match(models.TextChoices):
        CONTAINS = "contains", _("contains")
        WORD = "word", _("whole word")
        EXACT = "exact", _("whole message")
        REGEX = "regex", _("regular expression")

    phrase = models.CharField(_("phrase"), max_length=200)
    match = models.CharField(
        _("match"),
        max_length=10,
        choices=Match.choices,
        default=Match.WORD,
        help_text=_(
            "Text is compared after Unicode NFKC normalisation and case folding, so "
            "'ＡＧＥＮＴ' matches 'agent' and half-width katakana matches full-width. "
            "Whole word: the phrase may not be part of a longer word. Japanese has no "
            "spaces, so next to kanji and hiragana a phrase matches anywhere (as "
            "'contains'); a katakana phrase may not run into more katakana, and a Latin "
            "phrase may not run into more letters or digits. Whole message: the message "
            "is the phrase, ignoring surrounding spaces and punctuation. Regular "
            "expression: Python syntax, searched in the normalised text."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.IntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are checked first.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    # A regular expression whose match ran past its time budget is skipped for that
    # message; these say so in admin, so the admin can fix a pattern that backtracks.
    timeout_count = models.PositiveIntegerField(_("times over the time budget"), default=0)
    last_timeout_at = models.DateTimeField(_("last over the time budget"), null=True, blank=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["phrase", "match"], name="escalation_rule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.phrase} ({self.get_match_display()})"

    def clean(self) -> None:
        if not self.phrase.strip():
            raise ValidationError({"phrase": _("The phrase cannot be blank.")})
        if self.match == self.Match.REGEX:
            try:
                user_regex.check(
                    self.phrase,
                    budget_seconds=settings.HANDOFF_REGEX_TIMEOUT_MS / 1000,
                    trial_chars=MAX_MESSAGE_CHARS,
                )
            except ValueError as error:
                raise ValidationError({"phrase": str(error)}) from error


class FaqEntry(models.Model):
    """One answer the built-in FAQ bot can give, with the ways customers ask for it."""

    questions = models.TextField(
        _("questions"),
        help_text=_(
            "One phrasing per line, in any language. The bot matches wording loosely "
            "(case, full-/half-width, word order, small differences)."
        ),
    )
    answer = models.TextField(_("answer"), max_length=MAX_MESSAGE_CHARS)
    campaign = models.ForeignKey(
        "BrazeCampaign",
        verbose_name=_("send through campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "Optional. Send this answer through a Braze campaign (a quick-reply menu, "
            "say) instead of as plain text; the answer fills the campaign's message "
            "property."
        ),
    )
    campaign_properties = models.JSONField(
        _("campaign properties"),
        default=dict,
        blank=True,
        help_text=_('Fixed trigger properties for that campaign, as JSON: {"name": "value"}.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("FAQ entry")
        verbose_name_plural = _("FAQ entries")
        ordering = ["id"]

    def __str__(self) -> str:
        first = self.question_list[:1]
        return first[0] if first else f"FAQ #{self.pk}"

    @property
    def question_list(self) -> list[str]:
        return [line.strip() for line in self.questions.splitlines() if line.strip()]

    def clean(self) -> None:
        if not self.question_list:
            raise ValidationError({"questions": _("Give at least one question.")})
        # The answer fills the message property itself; every other one the campaign
        # declares must be fixed here, or the bot's send would not fit the campaign.
        check_campaign_properties(
            self.campaign,
            self.campaign_properties,
            required=True,
            filled_by_answer=(settings.BRAZE_MESSAGE_PROPERTY,),
        )


_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class BrazeCampaign(models.Model):
    """An API-triggered Braze campaign handoff may send through, besides the default.

    The settings' BRAZE_CAMPAIGN_ID stays the reply campaign for plain text. These
    are the others a marketer builds in Braze: templates for when the 24-hour window
    is closed, quick-reply menus, a satisfaction survey. Bots and canned replies
    name them by key.
    """

    class Kind(models.TextChoices):
        RESPONSE = "response", _("response message (only inside the 24-hour window)")
        TEMPLATE = "template", _("template message (any time)")

    name = models.CharField(_("name"), max_length=120, unique=True)
    key = models.SlugField(
        _("key"),
        max_length=60,
        unique=True,
        help_text=_('How bots and canned replies name this campaign, for example "survey".'),
    )
    campaign_id = models.CharField(
        _("Braze campaign id"),
        max_length=64,
        help_text=_("From the campaign's API-triggered delivery page in Braze."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.TEMPLATE)
    property_names = models.TextField(
        _("trigger properties"),
        blank=True,
        help_text=_(
            "The trigger property names the campaign's message uses, one per line, "
            "exactly as written in Braze's Liquid ({{api_trigger_properties.${name}}})."
        ),
    )
    is_survey = models.BooleanField(
        _("asks for satisfaction"),
        default=False,
        help_text=_(
            "The message asks for a score from 1 to 5; the customer's answer is "
            "recorded on the conversation (and on their Braze profile)."
        ),
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("What the message says, shown to agents.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("Braze campaign")
        verbose_name_plural = _("Braze campaigns")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def property_list(self) -> list[str]:
        return [line.strip() for line in self.property_names.splitlines() if line.strip()]

    def clean(self) -> None:
        self.campaign_id = self.campaign_id.strip()
        bad = [name for name in self.property_list if not _PROPERTY_NAME.match(name)]
        if bad:
            raise ValidationError(
                {
                    "property_names": _(
                        "Not a property name Liquid can read: %(names)s. Use letters, "
                        "digits and underscores, not starting with a digit."
                    )
                    % {"names": ", ".join(bad)}
                }
            )


class TopicRoute(models.Model):
    """Where messages with a given `topic` go: a keyword webhook campaign sets the topic.

    Messages with no topic, or one no active route knows, take the default route
    (the route marked default, or else the bot with all FAQ knowledge).
    """

    class Destination(models.TextChoices):
        AGENTS = "agents", _("straight to agents")
        BOT = "bot", _("the bot")

    topic = models.SlugField(
        _("topic"),
        max_length=100,
        unique=True,
        help_text=_('The value the webhook campaign sends in "topic", for example "billing".'),
    )
    destination = models.CharField(
        _("destination"), max_length=10, choices=Destination.choices, default=Destination.AGENTS
    )
    queue_label = models.CharField(
        _("queue label"),
        max_length=60,
        blank=True,
        help_text=_("Shown to agents on the conversation and usable as an inbox filter."),
    )
    bot_instructions = models.TextField(
        _("bot instructions"),
        blank=True,
        help_text=_("Added to the LLM bot's system prompt for conversations on this topic."),
    )
    knowledge = models.ManyToManyField(
        FaqEntry,
        verbose_name=_("knowledge"),
        blank=True,
        related_name="+",
        help_text=_(
            "The FAQ entries the bot answers from on this topic. None selected: all active entries."
        ),
    )
    trigger_words = models.TextField(
        _("Braze trigger words"),
        blank=True,
        help_text=_(
            "The trigger words of this topic's webhook campaign in Braze, one per line "
            "or separated by commas. Braze also sends such a message through the "
            "catch-all campaign, so handoff waits a few seconds "
            "(HANDOFF_TOPIC_MERGE_SECONDS) before routing a message without a topic, "
            "in case this campaign's copy follows. With the words given, only messages "
            "containing one of them wait; empty: every message without a topic waits."
        ),
    )
    team = models.ForeignKey(
        "Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routes",
        help_text=_("The team whose queue this route's hand-overs wait in. Empty: every agent's."),
    )
    is_default = models.BooleanField(
        _("default route"),
        default=False,
        help_text=_("Also takes messages with no topic or a topic no route knows."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("topic route")
        verbose_name_plural = _("topic routes")
        ordering = ["topic"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_route"
            )
        ]

    def __str__(self) -> str:
        return self.topic

    @property
    def trigger_word_list(self) -> list[str]:
        return [w.strip() for w in re.split(r"[,\n]", self.trigger_words) if w.strip()]


class ProfileUpdate(models.Model):
    """Custom attributes waiting to be recorded on a customer's Braze profile.

    Rows are the durable outbox for POST /users/track, as message rows are for
    sends: written in the transaction of the fact they record, sent in batches by
    a worker, retried like messages, and visible in admin when they fail.
    """

    State = Message.Delivery

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="profile_updates")
    attributes = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=Message.Delivery.choices, default="queued")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("profile update")
        verbose_name_plural = _("profile updates")
        indexes = [
            models.Index(fields=["state", "next_attempt_at", "id"], name="profile_update_due"),
            models.Index(fields=["contact", "state", "id"], name="profile_update_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} {sorted(self.attributes)} ({self.state})"


class Schedule(models.Model):
    """Opening hours: when agents answer. A hand-over while closed tells the customer
    when the schedule opens again (the conversation still waits for an agent); the
    bot answers at any hour. The rules themselves are in `rules.business_hours`."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        help_text=_(
            "The time zone the opening hours and closed dates are in, such as Asia/Tokyo. "
            "Customers are told the next opening in this zone's local time."
        ),
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=3,
        blank=True,
        help_text=_(
            "Two-letter country code (JP, DE, US, ...): that country's public holidays "
            "are closed days. Empty: no public holidays."
        ),
    )
    holiday_subdiv = models.CharField(
        _("region"),
        max_length=40,
        blank=True,
        help_text=_(
            "Optional: the state or region whose holidays also count, such as BY for "
            "Bavaria. Empty: the country's nationwide holidays only."
        ),
    )
    offline_text = models.TextField(
        _("text outside opening hours"),
        max_length=MAX_MESSAGE_CHARS,
        blank=True,
        help_text=_(
            "Sent instead of the hand-over message while closed. {opening} is replaced "
            "by the next opening in the customer's language, such as “Monday 9:00”. "
            "Empty: “We are closed now and open again {opening}. ...”, in the "
            "customer's language (English or Japanese)."
        ),
    )

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.holiday_country = self.holiday_country.strip().upper()
        self.holiday_subdiv = self.holiday_subdiv.strip().upper()
        errors: dict[str, str] = {}
        if problem := business_hours.time_zone_problem(self.time_zone):
            errors["time_zone"] = problem
        errors.update(
            business_hours.holiday_country_problem(self.holiday_country, self.holiday_subdiv)
        )
        if problem := opening_text.offline_text_problem(self.offline_text):
            errors["offline_text"] = problem
        if errors:
            raise ValidationError(errors)


class OpeningInterval(models.Model):
    """Open on one weekday from `opens` to `closes` (minutes from local midnight, so a
    day may close at 24:00); a day may have several, such as a lunch break between."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="intervals")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    opens = models.PositiveSmallIntegerField(_("opens"), help_text=_("Such as 9:00."))
    closes = models.PositiveSmallIntegerField(
        _("closes"), help_text=_("Such as 18:00; 24:00 for midnight at the end of the day.")
    )

    class Meta:
        verbose_name = _("opening interval")
        verbose_name_plural = _("opening intervals")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__lte=6), name="opening_interval_weekday_0_to_6"
            ),
            models.CheckConstraint(
                condition=Q(opens__lt=F("closes"), closes__lte=24 * 60),
                name="opening_interval_opens_before_it_closes",
            ),
        ]

    def __str__(self) -> str:
        clock = business_hours.format_clock
        return f"{self.get_weekday_display()} {clock(self.opens)}–{clock(self.closes)}"

    def clean(self) -> None:
        if self.opens is not None and self.closes is not None:
            interval = business_hours.Interval(self.weekday, self.opens, self.closes)
            if problems := business_hours.interval_problems([interval]):
                raise ValidationError({"closes": problems[0]})


class ClosedDate(models.Model):
    """A day the company is closed besides public holidays (a company holiday, an
    office move), in the schedule's time zone."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="closed_dates")
    date = models.DateField(_("date"))
    label = models.CharField(
        _("label"), max_length=100, blank=True, help_text=_("For admins, such as “Office move”.")
    )

    class Meta:
        verbose_name = _("closed date")
        verbose_name_plural = _("closed dates")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "date"], name="one_closed_date_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.label}".strip()


class SlaPolicy(models.Model):
    """Response and resolution targets in minutes of opening hours, for the teams that
    name the policy (and, from the settings, for conversations of no team or of a team
    without one). A clock takes its target when it starts: editing a policy changes
    the clocks started afterwards, not the running ones."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    first_response_minutes = models.PositiveIntegerField(
        _("first response (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(sla.MAX_TARGET_MINUTES)],
        help_text=_(
            "From the hand-over to the first agent reply, in minutes of opening hours. "
            "Empty: not measured."
        ),
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(sla.MAX_TARGET_MINUTES)],
        help_text=_(
            "After the first reply: from the customer's first unanswered message to the "
            "agent's reply, in minutes of opening hours. Empty: not measured."
        ),
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(sla.MAX_TARGET_MINUTES)],
        help_text=_(
            "From the hand-over until the conversation is resolved, in minutes of "
            "opening hours. Empty: not measured."
        ),
    )
    at_risk_percent = models.PositiveSmallIntegerField(
        _("at risk at (percent of the target left)"),
        default=sla.DEFAULT_AT_RISK_PERCENT,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_(
            "A conversation shows as at risk once this share of a target is left, such "
            "as 20: the last 12 minutes of an hour."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(at_risk_percent__gte=1, at_risk_percent__lte=99),
                name="sla_policy_at_risk_1_to_99",
            ),
            models.CheckConstraint(
                condition=(
                    Q(first_response_minutes__isnull=True) | Q(first_response_minutes__gte=1)
                )
                & (Q(next_response_minutes__isnull=True) | Q(next_response_minutes__gte=1))
                & (Q(resolution_minutes__isnull=True) | Q(resolution_minutes__gte=1)),
                name="sla_policy_targets_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def targets(self) -> sla.Targets:
        return sla.Targets(
            first_response=self.first_response_minutes,
            next_response=self.next_response_minutes,
            resolution=self.resolution_minutes,
            at_risk_percent=self.at_risk_percent,
        )


class Team(models.Model):
    """A group of agents with its own queue: the conversations its topic routes hand
    over wait for its members, and auto-assignment gives them to its members only.

    With no team configured (or a route naming none) a conversation belongs to
    everyone, as before teams existed. The team's opening hours and reply timer apply
    to its conversations; empty fields fall back to the settings' ones.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("members"),
        blank=True,
        related_name="teams",
        help_text=_(
            "The agents who see this team's waiting conversations and are assigned them. "
            "Staff users see every queue whatever their teams."
        ),
    )
    schedule = models.ForeignKey(
        Schedule,
        verbose_name=_("opening hours"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams",
        help_text=_("Empty: the opening hours in the settings."),
    )
    reply_timer_minutes = models.PositiveSmallIntegerField(
        _("reply timer (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMER_MINUTES)],
        help_text=_(
            "An assigned conversation whose customer has waited this many minutes of "
            "opening hours for the assignee's reply goes back to the queue (or to "
            "another available agent), and the agent is told. Empty: the settings' "
            "reply timer."
        ),
    )
    sla_policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams",
        help_text=_(
            "The response and resolution targets of its conversations. Empty: the settings' policy."
        ),
    )
    reengagement_campaign = models.ForeignKey(
        "BrazeCampaign",
        verbose_name=_("re-engagement campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "A template campaign sent once to a customer of this team, waiting or "
            "assigned, whose 24-hour WhatsApp window is about to close with no reply "
            "from an agent, so that they can still be answered after it. Empty: the "
            "settings' campaign; with none, the team's agents are alerted instead."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reply_timer_minutes__isnull=True)
                | Q(reply_timer_minutes__gte=1, reply_timer_minutes__lte=MAX_TIMER_MINUTES),
                name="team_reply_timer_1_to_10080",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def auto_assign_at_first() -> bool:
    """The settings row's first value: HANDOFF_AUTO_ASSIGN (on unless set false)."""
    return settings.HANDOFF_AUTO_ASSIGN


class CustomerText(models.Model):
    """A text handoff sends customers itself (the hand-over, the bot's "I did not get
    that", the resolved message, ...) in one language: one row per text and language,
    so a language is added in admin without code. The customer's language picks the
    row (selectors/customer_texts.py); a language without its own row falls back to
    the site's default language, then to the built-in English."""

    class Key(models.TextChoices):
        HANDOVER = system_texts.HANDOVER, _("hand-over message")
        OFFLINE = system_texts.OFFLINE, _("text outside opening hours")
        RESOLVED = system_texts.RESOLVED, _("resolved message")
        BOT_MISS = system_texts.BOT_MISS, _("bot could not answer")
        SURVEY_PROMPT = system_texts.SURVEY_PROMPT, _("survey question")
        REENGAGEMENT = system_texts.REENGAGEMENT, _("re-engagement message")
        POSITION_UPDATE = system_texts.POSITION_UPDATE, _("place in the queue, update")

    key = models.CharField(_("text"), max_length=32, choices=Key.choices)
    language = models.CharField(
        _("language"),
        max_length=16,
        help_text=_(
            "A language code as Braze sends it in the profile's language: ja, en, pt-BR. "
            "Customers whose language has no text of this kind get the site's default "
            "language's."
        ),
    )
    text = models.TextField(_("text"), max_length=MAX_MESSAGE_CHARS, blank=True)

    class Meta:
        verbose_name = _("customer text")
        verbose_name_plural = _("customer texts")
        ordering = ["key", "language"]
        constraints = [
            models.UniqueConstraint(fields=["key", "language"], name="one_text_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.get_key_display()} ({self.language})"

    def clean(self) -> None:
        language = customer_language.normalized(self.language)
        if not language:
            raise ValidationError({"language": _("Enter a language code such as ja, en or pt-BR.")})
        self.language = language
        if problem := system_texts.problem(self.key, self.text):
            raise ValidationError({"text": problem})


class HandoffSettings(models.Model):
    """The routing numbers admins tune, the survey and the opening hours (one row);
    the texts customers are sent are CustomerText rows, one per language."""

    bot_miss_limit = models.PositiveSmallIntegerField(
        _("unanswered messages before hand-over"),
        default=2,
        help_text=_(
            "After this many customer messages in a row that the bot cannot answer, "
            "the conversation goes to the agents (reason bot_fallback)."
        ),
    )
    survey_campaign = models.ForeignKey(
        "BrazeCampaign",
        verbose_name=_("satisfaction survey campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "Optional. Sent after an agent resolves a conversation; the customer's "
            "answer (1-5) is recorded as the conversation's satisfaction score."
        ),
    )
    auto_assign = models.BooleanField(
        _("assign conversations automatically"),
        default=auto_assign_at_first,
        help_text=_(
            "Each waiting conversation goes, longest waiting first, to the online, "
            "available agent of its team with the most room (of two alike, the one "
            "assigned longest ago), never past their capacity. Off: agents claim "
            "conversations from the Waiting queue themselves."
        ),
    )
    reply_timer_minutes = models.PositiveSmallIntegerField(
        _("reply timer (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMER_MINUTES)],
        help_text=_(
            "An assigned conversation whose customer has waited this many minutes of "
            "opening hours for the assignee's reply goes back to the queue (or to "
            "another available agent), and the agent is told. For conversations of no "
            "team and of teams without their own. Empty: never."
        ),
    )
    # The opening hours of hand-overs to no team (and to teams without their own).
    schedule = models.ForeignKey(
        Schedule,
        verbose_name=_("opening hours"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "A hand-over outside these hours sends their text outside opening hours "
            "instead of the hand-over message, naming the next opening; the "
            "conversation still waits for an agent and the bot keeps answering. "
            "Empty: always open."
        ),
    )

    sla_policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "The response and resolution targets of conversations of no team and of "
            "teams without their own. Empty: none measured."
        ),
    )
    reengagement_campaign = models.ForeignKey(
        "BrazeCampaign",
        verbose_name=_("re-engagement campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "A template campaign sent once to a customer of no team (or of a team "
            "without its own), waiting or assigned, whose 24-hour WhatsApp window is "
            "about to close with no reply from an agent. Empty: the agents are alerted "
            "instead."
        ),
    )
    position_update_minutes = models.PositiveSmallIntegerField(
        _("tell waiting customers their new place (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(5), MaxValueValidator(720)],
        help_text=_(
            "At most once every this many minutes, a waiting customer is told their new "
            "place in the queue and wait: when they have moved up by half or more since "
            "they were last told, else once they have waited twice this long. Never once "
            "an agent has written to them. Empty: never."
        ),
    )
    reengage_before_minutes = models.PositiveSmallIntegerField(
        _("act before the window closes (minutes)"),
        default=60,
        validators=[MinValueValidator(5), MaxValueValidator(720)],
        help_text=_(
            "How long before a waiting or assigned customer's 24-hour window closes, "
            "with no reply from an agent, the re-engagement campaign goes out (or the "
            "agents are alerted)."
        ),
    )

    class Meta:
        verbose_name = _("settings")
        verbose_name_plural = _("settings")

    def __str__(self) -> str:
        return str(_("Texts and routing settings"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "HandoffSettings":
        held = _held_settings.get()
        if held is not None:
            return held
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj

    @classmethod
    @contextmanager
    def held(cls) -> Iterator["HandoffSettings"]:
        """One read of the row for a unit of work: `load()` inside returns it.

        A hand-over consults the settings from four services (the SLA's targets, the
        assignment, the opening hours, the queue updates), each loading the row: four
        round trips per hand-over in the routing transaction, where one snapshot is
        also the more coherent answer. Per thread and per task (a context variable);
        a block inside another keeps the outer one's row."""
        held = _held_settings.get()
        if held is not None:
            yield held
            return
        row = cls.load()
        token = _held_settings.set(row)
        try:
            yield row
        finally:
            _held_settings.reset(token)


# The settings row `HandoffSettings.held` keeps for the unit of work running here.
_held_settings: ContextVar[HandoffSettings | None] = ContextVar("held_settings", default=None)


DEFAULT_SYSTEM_PROMPT = """\
You are the first-line support assistant of our company on WhatsApp.

- Answer in the language the customer writes in.
- Be brief and friendly: a few short sentences, plain text, no Markdown.
- Answer only from the knowledge below and from the conversation. Never invent \
prices, dates, order details, policies or promises.
- Call the handoff_to_agent tool, with a short reason for the agent, when the \
customer asks for a person, when you are not sure of the answer, when the customer is \
upset, or when the request needs someone to look at their account or order. Do not \
tell the customer you are calling it; they will be told a person is coming.
"""


class BotSettings(models.Model):
    """What the LLM bot is told (one row): edited in admin, read on every answer so a
    change applies to the next message without a restart."""

    system_prompt = models.TextField(
        _("system prompt"),
        default=DEFAULT_SYSTEM_PROMPT,
        help_text=_(
            "The instructions the language model gets before every conversation. Keep "
            "the rule about the handoff_to_agent tool: it is how the model hands a "
            "customer to a person."
        ),
    )
    use_faq_as_knowledge = models.BooleanField(
        _("use FAQ entries as knowledge"),
        default=True,
        help_text=_(
            "Add the active FAQ entries (questions and answers) to the system prompt, "
            "so the model answers from them."
        ),
    )

    class Meta:
        verbose_name = _("LLM bot settings")
        verbose_name_plural = _("LLM bot settings")

    def __str__(self) -> str:
        return str(_("LLM bot prompt and knowledge"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "BotSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class InboxEvent(models.Model):
    """The agents' event feed: every change an inbox must show, in one numbered stream.

    The id is the event's sequence number. A row is written in the same transaction
    as the change it describes and pushed to the sockets after commit, so a browser
    that lost its connection asks for everything after the last number it saw and
    gets exactly what it missed, from any web process. Old rows are pruned by
    `manage.py prune_events` (and by the workers), not needed after a day.
    """

    kind = models.CharField(max_length=32)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="inbox_event_age")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class CannedReply(models.Model):
    """A prepared answer agents insert by typing "/" and its shortcut."""

    shortcut = models.SlugField(
        _("shortcut"),
        max_length=40,
        unique=True,
        help_text=_('Typed after "/" in the composer, for example "hours".'),
    )
    title = models.CharField(_("title"), max_length=120)
    text = models.TextField(_("text"), max_length=MAX_MESSAGE_CHARS)
    campaign = models.ForeignKey(
        "BrazeCampaign",
        verbose_name=_("send through campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "Optional. Inserting this reply sends it through a Braze campaign (a "
            "satisfaction survey, a template) instead of as plain text."
        ),
    )
    campaign_properties = models.JSONField(
        _("campaign properties"),
        default=dict,
        blank=True,
        help_text=_('Trigger properties for that campaign, as JSON: {"name": "value"}.'),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"

    def clean(self) -> None:
        # The agent fills what is left open when inserting the reply.
        check_campaign_properties(self.campaign, self.campaign_properties, required=False)


class ConversationRead(models.Model):
    """How far an agent has read a conversation: drives the unread marks."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE)
    last_read_message_id = models.BigIntegerField(default=0)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "conversation"], name="one_read_mark")
        ]

    def __str__(self) -> str:
        return f"{self.agent} read #{self.conversation_id} to {self.last_read_message_id}"


class AgentPresence(models.Model):
    """One inbox socket of an agent; an agent is online while any row is fresh.

    Rows live in the database, not in process memory, so every web process sees the
    same presence. A process that dies leaves rows behind that stop being fresh when
    their heartbeat (seen_at) ages past PRESENCE_TIMEOUT. A socket that closed keeps its
    row, fresh for HANDOFF_OFFLINE_GRACE_SECONDS after `closed_at`, so that a reload
    (close, then open) never shows the agent offline in between.
    """

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "seen_at"], name="presence_agent_seen")]

    def __str__(self) -> str:
        return f"{self.agent} on {self.channel_name}"


class AgentSeat(models.Model):
    """What an agent chose and can hold: available or away, and their capacity.

    Only the agent's choices and the assigner's bookkeeping are stored here. Whether
    they are online follows from their sockets (AgentPresence) and how many open
    conversations they hold from the conversations themselves (state assigned, this
    assignee): derived, so they can never disagree with what they count. An agent
    without a row is available with the default capacity; the row is made the first
    time something is set (services/seats.py), and its lock is what serialises changes
    to one agent's seat.
    """

    class Status(models.TextChoices):
        AVAILABLE = "available", _("available")
        AWAY = "away", _("away")

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="seat",
        verbose_name=_("agent"),
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.AVAILABLE,
        help_text=_(
            "The agent's own choice in the inbox. An agent with no inbox open counts "
            "as offline, whatever this says."
        ),
    )
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_CAPACITY), MaxValueValidator(MAX_CAPACITY)],
        help_text=_(
            "The most open conversations assigned to this agent at once, from 1 to 999. "
            "Empty: the default (HANDOFF_DEFAULT_CAPACITY)."
        ),
    )
    # When the agent was last given a conversation: the assigner's tie-break.
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        ordering = ["agent__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__isnull=True)
                | Q(capacity__gte=MIN_CAPACITY, capacity__lte=MAX_CAPACITY),
                name="seat_capacity_1_to_999",
            ),
        ]

    def __str__(self) -> str:
        return str(self.agent)


class ErasureRecord(models.Model):
    """That a contact was erased, when, by whom and how much: never who the contact was.

    The proof an operator shows for an erasure request. It keeps no name, phone number
    or text; `subject_digest` is a keyed hash (HMAC with SECRET_KEY) of the external id,
    so the same id can be checked against it later without the id being stored.
    """

    class Source(models.TextChoices):
        COMMAND = "command", _("erase_contact command")
        ADMIN = "admin", _("admin action")
        RETENTION = "retention", _("retention limit")

    subject_digest = models.CharField(_("external id digest"), max_length=64, db_index=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now)
    counts = models.JSONField(_("rows removed"), default=dict)

    class Meta:
        ordering = ["-erased_at"]
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.get_source_display()}, {self.erased_at:%Y-%m-%d})"


class ReportFact(models.Model):
    """One measured interval of a conversation's life with people, written in the
    transaction that ends it (services/reporting.py): the ground every report, export
    and SLA attainment figure is computed from.

    Why a table of its own rather than reading conversations: a conversation row holds
    only its latest episode (a reopen or a reply timer return overwrites the times), no
    next-response waits, and no record of whether an SLA clock was met. Chatwoot's
    `reporting_events` has this shape; its faults are designed out here: agent times
    start at the hand-over, never at creation (the bot's time is its own `handover`
    fact); one fact per clock run, kept single by a unique constraint, not a read.

    A fact holds no phone number, name or text, and loses its conversation (SET NULL)
    when the conversation is erased, so past months' figures stay as they were.
    """

    class Kind(models.TextChoices):
        HANDOVER = "handover", _("time with the bot before hand-over")
        ASSIGNMENT = "assignment", _("wait for an agent")
        FIRST_RESPONSE = "first_response", _("first response")
        NEXT_RESPONSE = "next_response", _("next response")
        RESOLUTION = "resolution", _("resolution")
        SLA_BREACH = "sla_breach", _("SLA target missed")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    conversation = models.ForeignKey(
        Conversation, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"))
    seconds = models.FloatField(_("seconds"))
    # Within the team's opening hours; None when no opening hours apply (always open).
    business_seconds = models.FloatField(_("seconds in opening hours"), null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("agent"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    topic = models.CharField(_("topic"), max_length=100, blank=True, default="")
    queue_label = models.CharField(_("queue label"), max_length=60, blank=True, default="")
    # The hand-over's kind (Conversation.EscalationKind, or "reopened"), or for a
    # breach the clock that was missed.
    reason = models.CharField(_("reason"), max_length=32, blank=True, default="")
    sla_minutes = models.PositiveIntegerField(_("SLA target (minutes)"), null=True, blank=True)
    sla_met = models.BooleanField(_("SLA met"), null=True, blank=True)  # None: no clock ran
    survey_sent = models.BooleanField(_("survey sent"), default=False)
    satisfaction_score = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)

    class Meta:
        verbose_name = _("report fact")
        verbose_name_plural = _("report facts")
        # Supervisors (staff need not be) read reports and exports and watch the desk.
        permissions = [("supervise", _("Can read reports and watch the desk live"))]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind", "reason", "started_at"],
                name="report_fact_one_per_run",
            )
        ]
        indexes = [
            models.Index(fields=["kind", "ended_at"], name="report_fact_kind_time"),
            models.Index(fields=["conversation", "kind"], name="report_fact_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of conversation {self.conversation_id}: {self.seconds:.0f} s"
