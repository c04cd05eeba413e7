"""Check the Braze wiring: settings, an optional real test send, and what to paste into Braze.

Prints only; the checks are in handoff.braze.wiring. Exits non-zero when any
check fails (a missing or malformed setting, a refused test send); warnings alone
exit zero.
"""

from django.core.management.base import BaseCommand, CommandError

from handoff.braze.wiring import Status, WiringReport, check_wiring

TAGS = {Status.OK: "[ok]  ", Status.WARN: "[warn]", Status.FAIL: "[FAIL]"}


class Command(BaseCommand):
    help = (
        "Check the settings Braze needs, optionally prove the API key and campaign with a "
        "real test send, and print the webhook campaign's URL, headers and body."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--send-to",
            metavar="EXTERNAL_ID",
            help="Send one real WhatsApp test message through the reply campaign to this "
            "Braze external id (a test user who wrote to your number in the last 24 hours).",
        )
        parser.add_argument(
            "--webhook-url",
            metavar="URL",
            help="The public URL Braze posts to (default: https:// on the first public "
            "ALLOWED_HOSTS name).",
        )

    def handle(self, *args, send_to=None, webhook_url=None, **options):
        report = check_wiring(send_to=send_to, webhook_url=webhook_url)
        self._print(report)
        if report.failed:
            names = ", ".join(check.name for check in report.failed)
            raise CommandError(f"Braze wiring check failed: {names}.")

    def _print(self, report: WiringReport) -> None:
        write = self.stdout.write
        styles = {
            Status.OK: self.style.SUCCESS,
            Status.WARN: self.style.WARNING,
            Status.FAIL: self.style.ERROR,
        }
        write("Checks")
        for check in report.checks:
            write(f"  {styles[check.status](TAGS[check.status])} {check.name}: {check.message}")
        write("")
        write("Webhook campaign (Compose Webhook, method POST)")
        write(f"  URL: {report.webhook_url}")
        write("  Request headers:")
        for name, value in report.webhook_headers:
            write(f"    {name}: {value}")
        write("  Request body (Raw text), exactly:")
        write("")
        write(report.webhook_body)
        write("")
        write("Check by hand in Braze (its API does not show these settings):")
        for item in report.checklist:
            write(f"  [ ] {item}")
        write("")
        failed, warned = len(report.failed), len(report.warnings)
        summary = f"{failed} failed, {warned} warning(s)."
        write(self.style.ERROR(summary) if failed else summary)
