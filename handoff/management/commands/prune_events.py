"""Delete inbox events older than HANDOFF_EVENT_RETENTION_HOURS.

The workers already do this once an hour; the command is for deployments that run
no worker for a while, or for a cron job.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from handoff.live.feed import prune_events


class Command(BaseCommand):
    help = "Delete inbox events older than the retention (HANDOFF_EVENT_RETENTION_HOURS)."

    def handle(self, *args, **options):
        deleted = prune_events()
        hours = settings.HANDOFF_EVENT_RETENTION_HOURS
        self.stdout.write(f"Deleted {deleted} inbox events older than {hours:g} hours.")
