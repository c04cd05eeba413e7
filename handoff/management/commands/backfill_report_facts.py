"""Write report facts for conversations handed over before handoff recorded them.

Run once after upgrading to the release with reports; safe to run again (see
handoff/services/report_backfill.py for what history can and cannot give back).
"""

from django.core.management.base import BaseCommand

from handoff.services.report_backfill import backfill


class Command(BaseCommand):
    help = (
        "Write report facts (hand-over, first response, resolution, SLA breaches) for "
        "conversations from before reports existed. Safe to run again."
    )

    def handle(self, *args, **options):
        done = backfill()
        self.stdout.write(
            f"Looked at {done.conversations} handed-over conversations; "
            f"wrote {done.facts} report facts (next responses and earlier episodes "
            "cannot be rebuilt from history)."
        )
