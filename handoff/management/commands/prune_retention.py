"""Delete resolved conversations older than HANDOFF_RETENTION_DAYS, and contacts left
with nothing.

The workers already do this once an hour; the command is for a cron job, a first run
after setting the retention, or a deployment running no worker for a while.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from handoff.services.erasure import COUNT_KEYS, prune_retention


class Command(BaseCommand):
    help = (
        "Delete resolved conversations older than the retention (HANDOFF_RETENTION_DAYS), "
        "with their messages and events, and contacts left with nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="use this retention in days instead of HANDOFF_RETENTION_DAYS",
        )

    def handle(self, *args, days, **options):
        days = settings.HANDOFF_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 (keep for ever) or more.")
        if days == 0:
            self.stdout.write("No retention is set (HANDOFF_RETENTION_DAYS=0): nothing pruned.")
            return
        counts = prune_retention(days=days, requested_by="prune_retention command")
        if not any(counts.values()):
            self.stdout.write(f"Nothing resolved more than {days} days ago.")
            return
        self.stdout.write(f"Removed what was resolved more than {days} days ago:")
        for key in COUNT_KEYS:
            self.stdout.write(f"  {key}: {counts[key]}")
