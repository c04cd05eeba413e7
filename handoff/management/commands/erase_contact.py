"""Erase one customer on request, or check whether an external id was erased.

The rule lives in handoff.services.erasure; this command only parses and reports.
"""

import getpass

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from handoff.models import Contact, ErasureRecord
from handoff.services.erasure import COUNT_KEYS, UnknownContact, erase_contact, erasures_of

BRAZE_NOTE = (
    "Braze still holds this customer's profile (the handoff_* custom attributes) and "
    "their WhatsApp messages: remove them there too (docs/deploy.md, 'Erasing a customer')."
)


class Command(BaseCommand):
    help = (
        "Erase a customer by their Braze external_id: their contact, conversations, "
        "messages and every inbox event about them, leaving an erasure record without "
        "personal data. With --check, only say whether that id was erased."
    )

    def add_arguments(self, parser):
        parser.add_argument("external_id", help="the customer's Braze external_id")
        parser.add_argument(
            "--check",
            action="store_true",
            help="erase nothing; say whether this external id was erased (exit status 1 if not)",
        )
        parser.add_argument(
            "--requested-by",
            default=None,
            help="who asked for the erasure, kept on its record [the login running this]",
        )

    def handle(self, *args, external_id, check, requested_by, **options):
        if check:
            self._check(external_id)
            return
        if requested_by is None:
            requested_by = _login_name()
        try:
            erasure = erase_contact(
                external_id=external_id,
                source=ErasureRecord.Source.COMMAND,
                requested_by=requested_by,
            )
        except UnknownContact as unknown:
            raise CommandError(_unknown_text(unknown.erased_before)) from None
        self.stdout.write(f"Erased the contact (erasure record {erasure.record.pk}). Removed:")
        for key in COUNT_KEYS:
            self.stdout.write(f"  {key}: {erasure.counts[key]}")
        self.stdout.write(BRAZE_NOTE)

    def _check(self, external_id: str) -> None:
        records = erasures_of(external_id)
        exists = Contact.objects.filter(external_id=external_id).exists()
        for record in records:
            self.stdout.write(f"Erased: {_describe(record)}.")
        if exists:
            self.stdout.write(
                "A contact with this external id exists now"
                + (" (the customer wrote again after the erasure)." if records else ".")
            )
        if not records:
            raise CommandError("No erasure of this external id is recorded.")


def _describe(record: ErasureRecord) -> str:
    when = timezone.localtime(record.erased_at).strftime("%Y-%m-%d %H:%M %Z")
    by = f" by {record.requested_by}" if record.requested_by else ""
    return f"{when}{by} ({record.get_source_display()}, erasure record {record.pk})"


def _unknown_text(erased_before: list[ErasureRecord]) -> str:
    if erased_before:
        return (
            "No contact has this external id; nothing was erased. It was erased before: "
            f"{_describe(erased_before[0])}."
        )
    return "No contact has this external id; nothing was erased."


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
