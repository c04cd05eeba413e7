"""Django admin: where admins configure rules, FAQ answers and texts, and inspect deliveries."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from handoff.bots.trial import try_bot
from handoff.models import (
    AgentSeat,
    BotSettings,
    BrazeCampaign,
    CannedReply,
    ClosedDate,
    Contact,
    Conversation,
    ConversationEvent,
    CustomerText,
    ErasureRecord,
    EscalationRule,
    FaqEntry,
    HandoffSettings,
    Message,
    OpeningInterval,
    ProfileUpdate,
    Schedule,
    SlaPolicy,
    Team,
    TopicRoute,
)
from handoff.rules import business_hours, opening_text
from handoff.rules.payloads import MAX_MESSAGE_CHARS
from handoff.selectors import opening_hours
from handoff.selectors.agents import agent_users, seat_rows
from handoff.services import assignment, erasure, profile_sync, seats, topics
from handoff.services.delivery import retry_by_hand

admin.site.site_header = _("handoff administration")
admin.site.site_title = _("handoff")


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
    list_display = ("phrase", "match", "is_active", "priority", "over_budget")
    list_editable = ("match", "is_active", "priority")
    list_filter = ("is_active", "match")
    search_fields = ("phrase",)
    readonly_fields = ("timeout_count", "last_timeout_at")

    @admin.display(description=_("over the time budget"), ordering="timeout_count")
    def over_budget(self, rule: EscalationRule) -> str:
        return str(rule.timeout_count) if rule.timeout_count else "—"

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        rule = self.get_object(request, object_id)
        if request.method == "GET" and rule is not None and rule.timeout_count:
            messages.warning(
                request,
                _(
                    "This expression ran past its time budget (%(ms)s ms) on %(count)s "
                    "messages, most recently %(when)s, and was skipped for them. Simplify "
                    "it; saving a changed expression resets the count."
                )
                % {
                    "ms": settings.HANDOFF_REGEX_TIMEOUT_MS,
                    "count": rule.timeout_count,
                    "when": formats.localize(timezone.localtime(rule.last_timeout_at))
                    if rule.last_timeout_at
                    else "?",
                },
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: EscalationRule, form, change) -> None:
        if change and {"phrase", "match"} & set(form.changed_data):
            obj.timeout_count, obj.last_timeout_at = 0, None  # a new pattern starts afresh
        super().save_model(request, obj, form, change)


class TryBotForm(forms.Form):
    message = forms.CharField(
        label=_("Customer message"),
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    conversation = forms.IntegerField(
        label=_("Conversation id (optional)"),
        required=False,
        min_value=1,
        help_text=_("Send that conversation's latest messages to the bot as its transcript."),
    )

    def clean_conversation(self) -> Conversation | None:
        conversation_id = self.cleaned_data["conversation"]
        if conversation_id is None:
            return None
        conversation = (
            Conversation.objects.select_related("contact").filter(pk=conversation_id).first()
        )
        if conversation is None:
            raise forms.ValidationError(_("There is no conversation with this id."))
        return conversation


@admin.register(FaqEntry)
class FaqEntryAdmin(admin.ModelAdmin):
    """FAQ answers, and the page to try the configured bot (whichever it is) by hand."""

    list_display = ("__str__", "campaign", "is_active", "updated_at")
    list_filter = ("is_active", "campaign")
    list_select_related = ("campaign",)
    search_fields = ("questions", "answer")
    fieldsets = (
        (None, {"fields": ("questions", "answer", "is_active")}),
        (
            _("Send through a Braze campaign (optional)"),
            {
                "fields": ("campaign", "campaign_properties"),
                "description": _(
                    "For a quick-reply menu or another layout built in Braze. The answer "
                    "fills the campaign's message property (BRAZE_MESSAGE_PROPERTY); give "
                    "every other property it declares here. If the campaign is inactive or "
                    "cannot be sent (a response message outside the 24-hour window), the "
                    "answer goes as plain text and the conversation records why."
                ),
            },
        ),
    )
    change_list_template = "admin/handoff/faqentry/change_list.html"

    def get_urls(self):
        try_bot_url = path(
            "try-bot/", self.admin_site.admin_view(self.try_bot_view), name="handoff_try_bot"
        )
        return [try_bot_url, *super().get_urls()]

    def try_bot_view(self, request: HttpRequest) -> HttpResponse:
        """Ask the bot without storing or sending anything; admin_view already requires staff.

        A conversation's transcript goes to the bot service, so using one needs the
        right to read conversations, not only FAQ entries.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TryBotForm(request.POST or None)
        trial = None
        if request.method == "POST" and form.is_valid():
            conversation = form.cleaned_data["conversation"]
            if conversation is not None and not request.user.has_perm("handoff.view_conversation"):
                raise PermissionDenied
            trial = try_bot(text=form.cleaned_data["message"], conversation=conversation)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Try the bot"),
            "opts": self.model._meta,
            "form": form,
            "trial": trial,
            "bot_setting": settings.HANDOFF_BOT,
        }
        return TemplateResponse(request, "admin/handoff/try_bot.html", context)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "title", "campaign", "is_active")
    list_editable = ("is_active",)
    list_filter = ("is_active", "campaign")
    list_select_related = ("campaign",)
    search_fields = ("shortcut", "title", "text")
    fieldsets = (
        (None, {"fields": ("shortcut", "title", "text", "is_active")}),
        (
            _("Send through a Braze campaign (optional)"),
            {
                "fields": ("campaign", "campaign_properties"),
                "description": _(
                    "Inserting this reply then opens the campaign form with these "
                    "properties filled in; the agent completes the rest and sends it as a "
                    "campaign, not as text. A template campaign also reaches customers "
                    "whose 24-hour window has closed."
                ),
            },
        ),
    )


@admin.register(HandoffSettings)
class HandoffSettingsAdmin(admin.ModelAdmin):
    """One row of settings: the list view goes straight to it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not HandoffSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        settings_row = HandoffSettings.load()
        return redirect("admin:handoff_handoffsettings_change", settings_row.pk)

    def save_model(self, request: HttpRequest, obj: HandoffSettings, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.auto_assign:
            assignment.wake_assigner()  # switched on: the queue may go out at once


# When each customer text goes out, shown beside it in admin.
WHEN_SENT = {
    CustomerText.Key.HANDOVER: _(
        "Sent when a conversation is handed to the agents, in opening hours. "
        "{position} becomes the customer's place in the queue (3), {wait} the wait "
        "estimated now (“about 5 to 10 minutes”). Empty: send nothing."
    ),
    CustomerText.Key.OFFLINE: _(
        "Sent instead of the hand-over message while closed (a schedule's own text "
        "outside opening hours takes its place). {opening} becomes the next opening, "
        "such as “Monday 9:00”."
    ),
    CustomerText.Key.RESOLVED: _(
        "Sent when an agent resolves a conversation. Empty: send nothing."
    ),
    CustomerText.Key.BOT_MISS: _(
        "Sent when the bot has no answer and the conversation stays with the bot."
    ),
    CustomerText.Key.POSITION_UPDATE: _(
        "Sent to a customer still waiting when Settings → tell waiting customers their "
        "new place is on: {position} and {wait} as in the hand-over message."
    ),
    CustomerText.Key.REENGAGEMENT: _(
        "The re-engagement campaign's message property, sent once to a waiting or "
        "assigned customer whose 24-hour window is about to close unanswered, when a "
        "re-engagement campaign is set (Settings, or the team's)."
    ),
    CustomerText.Key.SURVEY_PROMPT: _(
        "The survey campaign's question (its message property), sent after an agent "
        "resolves a conversation when a survey campaign is set."
    ),
}


@admin.register(CustomerText)
class CustomerTextAdmin(admin.ModelAdmin):
    """Each text customers get from handoff itself, one row per language: a new
    language is a new row for each text (the customer's language is Braze's
    `language` attribute, else the script they write in, else LANGUAGE_CODE)."""

    list_display = ("key", "language", "excerpt")
    list_filter = ("key", "language")
    search_fields = ("text", "language")
    fields = ("key", "language", "when_sent", "text")
    readonly_fields = ("when_sent",)

    @admin.display(description=_("text"))
    def excerpt(self, row: CustomerText) -> str:
        return row.text if len(row.text) <= 80 else row.text[:79] + "…"

    @admin.display(description=_("when it is sent"))
    def when_sent(self, row: CustomerText) -> str:
        return WHEN_SENT.get(row.key, "—") if row.key else "—"


@admin.register(BotSettings)
class BotSettingsAdmin(admin.ModelAdmin):
    """The LLM bot's prompt and knowledge switch: one row, like the settings above."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not BotSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect("admin:handoff_botsettings_change", BotSettings.load().pk)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "author_kind", "author", "text", "delivery_state", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = ConversationEvent
    fields = ("created_at", "kind", "actor_kind", "actor", "data")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "contact",
        "state",
        "escalation_reason",
        "team",
        "assignee",
        "last_message_at",
    )
    list_filter = ("state", "escalation_kind", "team", "queue_label", "topic")
    search_fields = ("contact__name", "contact__phone_number", "contact__external_id")
    list_select_related = ("contact", "assignee", "team")
    readonly_fields = (
        "contact",
        "state",
        "assignee",
        # Who owns and owes what is the services' to change (assignment, reply timer):
        # an edit here would skip their locks, events and the inboxes.
        "team",
        "waiting_since",
        "reply_due_at",
        "passed_over",
        "escalation_kind",
        "escalation_detail",
        "topic",
        "queue_label",
        "bot_misses",
        "created_at",
        "updated_at",
        "last_message_at",
        "escalated_at",
        "assigned_at",
        "resolved_at",
        # The SLA clocks are the service's to keep (services/sla.py): shown, not edited.
        "first_reply_at",
        "sla_due_at",
        "sla_kind",
        "sla_state",
        "sla_check_at",
        "sla_clocks",
        "sla_breached",
    )
    inlines = [MessageInline, EventInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A plain delete would leave the texts in the agents' event feed: customers
        # are erased whole from Contacts, old conversations by HANDOFF_RETENTION_DAYS.
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    """Customers. They are erased (handoff.services.erasure), never deleted: a plain
    delete would leave their texts and number in the agents' event feed."""

    list_display = ("external_id", "name", "phone_number", "first_seen_at", "last_inbound_at")
    search_fields = ("external_id", "name", "phone_number")
    readonly_fields = ("first_seen_at", "last_seen_at", "last_inbound_at")
    actions = ["erase_selected"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("handoff.delete_contact")

    @admin.action(description=_("Erase selected contacts"), permissions=["erase"])
    def erase_selected(
        self, request: HttpRequest, queryset: QuerySet[Contact]
    ) -> TemplateResponse | None:
        """A confirmation page first (what goes, what stays in Braze), then one erasure
        per contact, each in its own transaction."""
        if request.POST.get("post") != "yes":
            contacts = queryset.annotate(
                conversation_total=Count("conversations", distinct=True),
                message_total=Count("messages", distinct=True),
            ).order_by("pk")
            context = {
                **self.admin_site.each_context(request),
                "title": _("Erase contacts?"),
                "opts": self.model._meta,
                "contacts": contacts,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            return TemplateResponse(
                request, "admin/handoff/contact/erase_confirmation.html", context
            )
        erased = 0
        for external_id in queryset.values_list("external_id", flat=True):
            try:
                erasure.erase_contact(
                    external_id=external_id,
                    source=ErasureRecord.Source.ADMIN,
                    requested_by=request.user.get_username(),
                )
            except erasure.UnknownContact:
                continue  # erased by someone else meanwhile
            erased += 1
        self.message_user(
            request,
            ngettext(
                "Erased %d contact; an erasure record says so.",
                "Erased %d contacts; an erasure record for each says so.",
                erased,
            )
            % erased,
            messages.SUCCESS,
        )
        self.message_user(
            request,
            _(
                "Braze still holds their profiles and WhatsApp messages: remove them there "
                "as docs/deploy.md explains under Erasing a customer."
            ),
            messages.WARNING,
        )
        return None


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    """Proof that erasures happened, read-only. Searching takes an external id and
    finds its records through the digest; the id itself is never stored."""

    list_display = ("erased_at", "source", "requested_by", "removed")
    list_filter = ("source",)
    search_fields = ("subject_digest",)  # shows the search box; see get_search_results
    search_help_text = _("Enter a Braze external_id to find its erasures.")
    readonly_fields = ("erased_at", "source", "requested_by", "subject_digest", "counts")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("rows removed"))
    def removed(self, record: ErasureRecord) -> str:
        counts = record.counts if isinstance(record.counts, dict) else {}
        return ", ".join(f"{name}: {count}" for name, count in counts.items() if count) or "—"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        if not search_term:
            return queryset, False
        found = [record.pk for record in erasure.erasures_of(search_term.strip())]
        return queryset.filter(pk__in=found), False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Mostly for deliveries: find failed ones, read Braze's reason, retry them."""

    list_display = (
        "id",
        "created_at",
        "contact",
        "direction",
        "author_kind",
        "short_text",
        "delivery_state",
        "attempts",
        "last_error",
    )
    list_filter = ("delivery_state", "direction", "author_kind")
    search_fields = ("text", "contact__external_id", "contact__phone_number", "dispatch_id")
    list_select_related = ("contact",)
    readonly_fields = [field.name for field in Message._meta.fields]
    actions = ["retry_delivery"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # as for conversations: the feed would keep the text

    @admin.display(description=_("text"))
    def short_text(self, message: Message) -> str:
        return message.text[:80]

    @admin.action(description=_("Retry delivery of the selected failed messages"))
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(
            retry_by_hand(message_id=pk, actor=request.user)
            for pk in queryset.filter(delivery_state=Message.Delivery.FAILED).values_list(
                "pk", flat=True
            )
        )
        self.message_user(
            request,
            ngettext("%d message queued again.", "%d messages queued again.", count) % count,
            messages.SUCCESS if count else messages.WARNING,
        )


class TopicRouteForm(forms.ModelForm):
    class Meta:
        model = TopicRoute
        fields = (
            "topic",
            "destination",
            "queue_label",
            "is_default",
            "is_active",
            "trigger_words",
            "knowledge",
            "bot_instructions",
        )

    def clean_topic(self) -> str:
        """The webhook's topic is compared without case, so routes are stored lowercase
        and "Billing" cannot sit beside "billing"."""
        topic = topics.normalize_topic(self.cleaned_data["topic"])
        clash = TopicRoute.objects.filter(topic__iexact=topic).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("There is already a route for this topic."))
        return topic

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("is_default"):
            other = TopicRoute.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
            if other is not None:
                self.add_error(
                    "is_default",
                    _("Only one route can be the default, and %(topic)s is. Untick it there first.")
                    % {"topic": other.topic},
                )
        return cleaned


@admin.register(TopicRoute)
class TopicRouteAdmin(admin.ModelAdmin):
    """Where each webhook `topic` goes; saving explains settings that will not apply."""

    form = TopicRouteForm
    list_display = (
        "topic",
        "destination",
        "queue_label",
        "team",
        "knowledge_count",
        "is_default",
        "is_active",
    )
    list_filter = ("destination", "is_active", "is_default", "team")
    list_select_related = ("team",)
    search_fields = ("topic", "queue_label", "bot_instructions")
    filter_horizontal = ("knowledge",)
    fieldsets = (
        (
            None,
            {"fields": ("topic", "destination", "queue_label", "team", "is_default", "is_active")},
        ),
        (_("The keyword campaign in Braze"), {"fields": ("trigger_words",)}),
        (
            _("When the bot answers"),
            {
                "fields": ("knowledge", "bot_instructions"),
                "description": _(
                    "Used only by routes to the bot. The FAQ bot answers from the chosen "
                    "entries; the LLM bot gets them as knowledge and the instructions in "
                    "its prompt; your HTTP bot receives all three."
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(knowledge_total=Count("knowledge"))

    @admin.display(description=_("knowledge"), ordering="knowledge_total")
    def knowledge_count(self, route: TopicRoute) -> str:
        if route.destination != TopicRoute.Destination.BOT:
            return "—"
        total = getattr(route, "knowledge_total", None)
        return str(total) if total else str(_("all FAQ entries"))

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        topics.forget_cached_routes()
        for warning in route_warnings(form.instance):
            messages.warning(request, warning)

    def delete_model(self, request: HttpRequest, obj: TopicRoute) -> None:
        super().delete_model(request, obj)
        topics.forget_cached_routes()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        topics.forget_cached_routes()


def route_warnings(route: TopicRoute) -> list[str]:
    """Settings a route keeps but will not use, said after saving rather than refused:
    an admin switching a route between the bot and the agents keeps its knowledge."""
    warnings = []
    if route.destination == TopicRoute.Destination.AGENTS and (
        route.bot_instructions.strip() or route.knowledge.exists()
    ):
        warnings.append(
            _(
                "%(topic)s goes straight to agents, so its knowledge and bot instructions "
                "are not used (they are kept in case you switch it back to the bot)."
            )
            % {"topic": route.topic}
        )
    if (
        route.destination == TopicRoute.Destination.BOT
        and route.knowledge.filter(is_active=False).exists()
    ):
        warnings.append(
            _("Some of the chosen FAQ entries are switched off; the bot will not use them.")
        )
    if route.is_default and not route.is_active:
        warnings.append(
            _(
                "This default route is switched off: messages without a known topic go to "
                "the bot with all FAQ entries until it is switched on."
            )
        )
    if route.destination == TopicRoute.Destination.AGENTS and not route.queue_label.strip():
        warnings.append(
            _("Agents will see this route's conversations without a queue label to filter by.")
        )
    return warnings


@admin.register(BrazeCampaign)
class BrazeCampaignAdmin(admin.ModelAdmin):
    """The API-triggered campaigns besides the reply campaign in the settings."""

    list_display = ("name", "key", "kind", "campaign_id", "is_active", "is_survey")
    list_filter = ("kind", "is_active", "is_survey")
    list_editable = ("is_active",)
    search_fields = ("name", "key", "campaign_id", "description")
    prepopulated_fields = {"key": ("name",)}
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "key", "campaign_id", "kind", "is_active"),
                "description": _(
                    "Build the campaign in Braze as an API-triggered WhatsApp campaign "
                    "(re-eligible after 0 minutes, exempt from frequency capping), then copy "
                    "its id here. Template: a Meta-approved template, sendable any time, "
                    "also after the customer's 24-hour window closed. Response message: "
                    "free layout (quick replies, lists), only inside the window. A campaign "
                    "that has carried messages cannot be deleted (their record refers to "
                    "it): untick Active instead."
                ),
            },
        ),
        (
            _("Message"),
            {"fields": ("property_names", "description", "is_survey")},
        ),
    )

    def get_deleted_objects(self, objs, request):
        """Say plainly why a used campaign cannot go, instead of only listing messages."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            protected = [
                _(
                    "%(name)s has carried messages to customers; deactivate it instead "
                    "(untick Active)."
                )
                % {"name": obj.name}
                for obj in objs
                if obj.messages.exists()
            ]
        return deleted, model_count, perms_needed, protected


@admin.register(ProfileUpdate)
class ProfileUpdateAdmin(admin.ModelAdmin):
    """Chat facts on their way to Braze profiles: find failed ones, read Braze's
    reason, retry them once the cause is fixed (a key without users.track, say)."""

    list_display = (
        "id",
        "created_at",
        "contact",
        "external_id",
        "attributes",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("state",)
    search_fields = ("contact__external_id", "contact__phone_number", "last_error")
    list_select_related = ("contact",)
    readonly_fields = [field.name for field in ProfileUpdate._meta.fields]
    actions = ["retry_profile_updates"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("Braze external_id"), ordering="contact__external_id")
    def external_id(self, update: ProfileUpdate) -> str:
        return update.contact.external_id

    @admin.action(description=_("Retry the selected failed profile updates"))
    def retry_profile_updates(
        self, request: HttpRequest, queryset: QuerySet[ProfileUpdate]
    ) -> None:
        failed = list(
            queryset.filter(state=ProfileUpdate.State.FAILED).values_list("pk", flat=True)
        )
        count = sum(profile_sync.retry_by_hand(update_id=pk) for pk in failed)
        self.message_user(
            request,
            ngettext("%d profile update queued again.", "%d profile updates queued again.", count)
            % count,
            messages.SUCCESS if count else messages.WARNING,
        )
        if len(failed) > count:
            skipped = len(failed) - count
            self.message_user(
                request,
                ngettext(
                    "%d not queued: newer updates have replaced all its values.",
                    "%d not queued: newer updates have replaced all their values.",
                    skipped,
                )
                % skipped,
                messages.INFO,
            )


@admin.register(AgentSeat)
class AgentSeatAdmin(admin.ModelAdmin):
    """Every agent's status and capacity, with how much they hold and whether they are
    online. Changes go through services.seats, so open inboxes show them at once."""

    list_display = (
        "agent",
        "status",
        "capacity",
        "load",
        "online",
        "team_names",
        "last_assigned_at",
        "status_changed_at",
    )
    list_editable = ("status", "capacity")
    list_filter = ("status", "agent__teams")
    search_fields = ("agent__username", "agent__first_name", "agent__last_name")
    fields = ("agent", "status", "capacity", "status_changed_at", "last_assigned_at")
    readonly_fields = ("agent", "status_changed_at", "last_assigned_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentSeat]:
        return seat_rows().prefetch_related("agent__teams")

    @admin.display(description=_("teams"))
    def team_names(self, seat: AgentSeat) -> str:
        return ", ".join(sorted(team.name for team in seat.agent.teams.all())) or "—"

    def changelist_view(self, request, extra_context=None):
        # An agent has no row until something is set for them; list them all.
        seats.ensure_seats()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every agent has one: make an agent (Users, or createagent)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("open conversations"), ordering="open_count")
    def load(self, seat: AgentSeat) -> str:
        capacity = seat.capacity or settings.HANDOFF_DEFAULT_CAPACITY
        shown = _("%(open)d of %(capacity)d") % {"open": seat.open_count, "capacity": capacity}
        return shown if seat.capacity else _("%(load)s (default capacity)") % {"load": shown}

    @admin.display(description=_("online"), boolean=True, ordering="online")
    def online(self, seat: AgentSeat) -> bool:
        return seat.online

    def save_model(self, request: HttpRequest, obj: AgentSeat, form, change: bool) -> None:
        if "status" in form.changed_data:
            seats.set_status(agent=obj.agent, status=obj.status)
        if "capacity" in form.changed_data:
            seats.set_capacity(agent_id=obj.agent_id, capacity=obj.capacity)


# --- Teams -------------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams, their members, opening hours, reply timer and SLA policy. Saving wakes
    the assigner: a new member may be free for the team's waiting conversations."""

    list_display = (
        "name",
        "member_count",
        "schedule",
        "reply_timer_minutes",
        "sla_policy",
        "waiting",
    )
    list_select_related = ("schedule", "sla_policy")
    search_fields = ("name", "members__username")
    filter_horizontal = ("members",)
    fieldsets = (
        (None, {"fields": ("name", "members")}),
        (
            _("Hours and timers"),
            {
                "fields": (
                    "schedule",
                    "reply_timer_minutes",
                    "sla_policy",
                    "reengagement_campaign",
                ),
                "description": _(
                    "Topic routes name the team whose queue their hand-overs wait in "
                    "(Topic routes → team). Conversations of no team wait for every agent."
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                members_total=Count("members", distinct=True),
                waiting_total=Count(
                    "conversations",
                    filter=Q(conversations__state=Conversation.State.WAITING),
                    distinct=True,
                ),
            )
        )

    @admin.display(description=_("members"), ordering="members_total")
    def member_count(self, team: Team) -> int:
        return team.members_total

    @admin.display(description=_("waiting now"), ordering="waiting_total")
    def waiting(self, team: Team) -> int:
        return team.waiting_total

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = agent_users().order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        assignment.wake_assigner()


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    """Response and resolution targets. A running clock keeps the target it started
    with, so an edit applies to clocks that start afterwards."""

    list_display = (
        "name",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "at_risk_percent",
        "used_by",
    )
    search_fields = ("name",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "first_response_minutes",
                    "next_response_minutes",
                    "resolution_minutes",
                    "at_risk_percent",
                ),
                "description": _(
                    "Targets count opening hours only (the team's, else the settings'). "
                    "A team names its policy (Teams → SLA policy); the settings' policy "
                    "applies to conversations of no team and of teams without one. "
                    "Editing a policy changes clocks that start afterwards, not those "
                    "already running."
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SlaPolicy]:
        return super().get_queryset(request).annotate(team_total=Count("teams", distinct=True))

    @admin.display(description=_("teams"), ordering="team_total")
    def used_by(self, policy: SlaPolicy) -> int:
        return policy.team_total


# --- Opening hours --------------------------------------------------------------------


class ClockField(forms.Field):
    """A time of day written "9:00" (24:00 for the end of the day), kept as minutes
    from midnight."""

    widget = forms.TextInput(attrs={"size": 6, "placeholder": "09:00"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        try:
            return business_hours.parse_clock(str(value))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def prepare_value(self, value):
        return business_hours.format_clock(value) if isinstance(value, int) else value


class OpeningIntervalForm(forms.ModelForm):
    opens = ClockField(label=_("opens"), help_text=_("Such as 9:00."))
    closes = ClockField(
        label=_("closes"), help_text=_("Such as 18:00; 24:00 for midnight at the end of the day.")
    )

    class Meta:
        model = OpeningInterval
        fields = ("weekday", "opens", "closes")


class OpeningIntervalFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Two intervals of one day must not overlap (one may begin as another ends)."""
        super().clean()
        intervals = [
            business_hours.Interval(
                form.cleaned_data["weekday"],
                form.cleaned_data["opens"],
                form.cleaned_data["closes"],
            )
            for form in self.forms
            if form.is_valid()
            and form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and all(form.cleaned_data.get(k) is not None for k in ("weekday", "opens", "closes"))
        ]
        if problems := business_hours.interval_problems(intervals):
            raise forms.ValidationError(problems)


class OpeningIntervalInline(admin.TabularInline):
    model = OpeningInterval
    form = OpeningIntervalForm
    formset = OpeningIntervalFormSet
    extra = 1
    verbose_name = _("opening interval")
    verbose_name_plural = _(
        "Opening intervals: several a day are fine (a lunch break between two). "
        "No intervals: open all day, every day that is not closed."
    )


class ClosedDateInline(admin.TabularInline):
    model = ClosedDate
    extra = 1
    verbose_name_plural = _("Closed dates besides public holidays (in the schedule's time zone)")


class ScheduleForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("time zone"),
        choices=lambda: [(z, z) for z in business_hours.time_zone_choices()],
        initial=lambda: settings.TIME_ZONE,
        help_text=Schedule._meta.get_field("time_zone").help_text,
    )

    class Meta:
        model = Schedule
        fields = ("name", "time_zone", "holiday_country", "holiday_subdiv", "offline_text")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    """Opening hours: weekly intervals, public holidays by country, closed dates. The
    settings name the schedule hand-overs follow."""

    form = ScheduleForm
    inlines = [OpeningIntervalInline, ClosedDateInline]
    list_display = ("name", "time_zone", "holiday_country", "open_now")
    search_fields = ("name",)
    readonly_fields = ("open_now", "upcoming_closed_days")
    fieldsets = (
        (None, {"fields": ("name", "time_zone", "open_now")}),
        (
            _("Closed days"),
            {"fields": ("holiday_country", "holiday_subdiv", "upcoming_closed_days")},
        ),
        (_("What customers are told"), {"fields": ("offline_text",)}),
    )

    @admin.display(description=_("right now"))
    def open_now(self, schedule: Schedule) -> str:
        if schedule.pk is None:
            return "—"
        hours = opening_hours.business_hours_of(schedule)
        moment = timezone.now()
        if hours.is_open(moment):
            return _("Open")
        opening = hours.next_opening(moment)
        if opening is None:
            return _("Closed, and not open in the next %(days)s days") % {
                "days": business_hours.LOOKAHEAD_DAYS
            }
        language = opening_text.customer_language(translation.get_language() or "", "en")
        return _("Closed · opens %(when)s") % {
            "when": opening_text.format_opening(
                opening, now=moment, zone=hours.zone, language=language
            )
        }

    @admin.display(description=_("next closed days"))
    def upcoming_closed_days(self, schedule: Schedule) -> str:
        """What the schedule will treat as closed next: its public holidays and dates."""
        if schedule.pk is None:
            return "—"
        hours = opening_hours.business_hours_of(schedule)
        today = hours.local_date(timezone.now())
        days = dict(
            business_hours.holiday_names(
                schedule.holiday_country,
                schedule.holiday_subdiv,
                today,
                8,
                language=translation.get_language(),
            )
        )
        for closed in schedule.closed_dates.filter(date__gte=today):
            days[closed.date] = closed.label or _("closed date")
        if not days:
            return _("None")
        return "; ".join(
            f"{formats.date_format(day, 'DATE_FORMAT')} {name}"
            for day, name in sorted(days.items())[:8]
        )
