"""Checking how handoff and the two Braze campaigns are wired together.

Reads the settings, optionally proves the REST key and campaign with one real
trigger send, and assembles what the Braze engineer pastes into the webhook
campaign. Plain functions returning results: `manage.py braze_check` prints them
and an admin page can show them. It never prints or returns a secret whole (at
most its last four characters), and it sends nothing unless asked for a test send.
"""

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from handoff.braze.client import BrazeClient, Outcome, SendResult

DEFAULT_MESSAGE_PROPERTY = "external_system_msg_body"
# Braze's own guide writes the property this way in one place (docs/braze-whatsapp.md).
GUIDE_VARIANT_PROPERTY = "external_system_msg+body"
# settings.py's public value when DEBUG is true: known to anyone who reads the code.
DEV_WEBHOOK_SECRET = "dev-webhook-secret"  # noqa: S105
MIN_WEBHOOK_SECRET_CHARS = 16
GOOD_WEBHOOK_SECRET_CHARS = 32
TEST_TEXT = "handoff wiring check: if this reached WhatsApp, replies from handoff arrive."

# The exact body for the webhook campaign, as the README shows it (a test keeps the
# two the same): json_escape keeps customers' quotes and new lines from breaking the
# JSON, message_id lets the webhook drop Braze's retries of the same message, and
# language (the profile's) picks the language of what handoff tells the customer.
WEBHOOK_BODY_TEMPLATE = """\
{"user_id": "{{${user_id}}}",
 "phone_number": "{{${phone_number}}}",
 "name": "{{whats_app.${inbound_profile_name} | json_escape}}",
 "message": "{{whats_app.${inbound_message_body} | json_escape}}",
 "media_urls": "{{whats_app.${inbound_media_urls}}}",
 "message_id": "{{campaign.${dispatch_id}}}",
 "language": "{{${language}}}"}"""

WEBHOOK_URL_PLACEHOLDER = "https://<your handoff host>/webhooks/braze/whatsapp/"

# https://rest.iad-01.braze.com, https://rest.fra-01.braze.eu, ...
_REST_ENDPOINT = re.compile(r"^rest\.[a-z]+-\d+\.braze\.(com|eu)$")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_LIQUID_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class WiringReport:
    checks: list[Check]
    webhook_url: str
    webhook_headers: list[tuple[str, str]]  # the secret masked
    webhook_body: str
    checklist: list[str]
    sent: bool = field(default=False)  # whether a test send was made

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status is Status.FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.status is Status.WARN]


def check_wiring(
    *, send_to: str | None = None, webhook_url: str | None = None, client: BrazeClient | None = None
) -> WiringReport:
    """Everything the command and the admin page show, in the order they show it.

    The test send is made only when asked (it messages a real phone) and only when
    the settings it needs passed, so a missing setting never reaches Braze.
    """
    checks = check_settings()
    needed_by_send = {"BRAZE_REST_ENDPOINT", "BRAZE_API_KEY", "BRAZE_CAMPAIGN_ID"}
    blocked = [c.name for c in checks if c.name in needed_by_send and c.status is Status.FAIL]
    if not send_to:
        checks.append(
            Check(
                "Test send",
                Status.WARN,
                "Not proven: the API key and campaign were not tried. Run "
                "`python manage.py braze_check --send-to <external id>` with the external id "
                "of a test user who has written to your WhatsApp number in the last 24 hours; "
                "it sends them one real message.",
            )
        )
    elif blocked:
        checks.append(
            Check(
                "Test send",
                Status.WARN,
                f"Skipped: fix {', '.join(blocked)} first; nothing was sent to Braze.",
            )
        )
    else:
        checks.append(send_test_message(external_id=send_to, client=client))
    url = resolve_webhook_url(webhook_url)
    checks.append(check_webhook_url(url))
    return WiringReport(
        checks=checks,
        webhook_url=url,
        webhook_headers=webhook_headers(),
        webhook_body=WEBHOOK_BODY_TEMPLATE,
        checklist=campaign_checklist(),
        sent=bool(send_to) and not blocked,
    )


# -- settings ---------------------------------------------------------------------------


def check_settings() -> list[Check]:
    return [
        check_rest_endpoint(settings.BRAZE_REST_ENDPOINT),
        check_api_key(settings.BRAZE_API_KEY),
        check_campaign_id(settings.BRAZE_CAMPAIGN_ID, api_key=settings.BRAZE_API_KEY),
        check_message_property(settings.BRAZE_MESSAGE_PROPERTY),
        check_webhook_secret(settings.HANDOFF_WEBHOOK_SECRET),
    ]


def check_rest_endpoint(value: str) -> Check:
    name = "BRAZE_REST_ENDPOINT"
    example = "https://rest.iad-01.braze.com (or https://rest.<instance>.braze.eu)"
    value = (value or "").strip()
    if not value:
        return Check(
            name, Status.FAIL, f"Not set. Use your instance's REST endpoint, e.g. {example}."
        )
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
    except ValueError:
        return Check(name, Status.FAIL, f"{value!r} is not a URL; expected e.g. {example}.")
    if parts.scheme not in ("http", "https") or not host:
        return Check(
            name, Status.FAIL, f"{value!r} needs https:// in front; expected e.g. {example}."
        )
    if host in _LOCAL_HOSTS:
        return Check(
            name,
            Status.WARN,
            f"{value} is a local stand-in, not Braze: replies will not reach WhatsApp.",
        )
    if parts.path.strip("/") or parts.query:
        return Check(
            name,
            Status.FAIL,
            f"{value!r} has a path; give the bare endpoint (handoff adds "
            f"/campaigns/trigger/send), e.g. {example}.",
        )
    if parts.scheme != "https":
        return Check(name, Status.FAIL, f"{value!r} must use https://, e.g. {example}.")
    if host.startswith("dashboard"):
        return Check(
            name,
            Status.FAIL,
            f"{host} is Braze's dashboard, not its REST API; use the rest. host of "
            f"the same instance, e.g. {example}.",
        )
    if not _REST_ENDPOINT.match(host) or parts.port is not None:
        return Check(
            name,
            Status.FAIL,
            f"{value!r} does not look like a Braze REST endpoint; expected e.g. {example}.",
        )
    return Check(name, Status.OK, value)


def check_api_key(value: str) -> Check:
    name = "BRAZE_API_KEY"
    if not value:
        return Check(
            name, Status.FAIL, "Not set. Create a REST API key with campaigns.trigger.send."
        )
    if value != value.strip() or any(char.isspace() or char in "\"'" for char in value):
        return Check(name, Status.FAIL, "Contains spaces or quotes; paste the key alone.")
    shown = f"ends in {mask(value)}" if len(value) >= 16 else "too short to show any of it"
    return Check(name, Status.OK, f"Set ({shown}).")


def check_campaign_id(value: str, *, api_key: str = "") -> Check:
    name = "BRAZE_CAMPAIGN_ID"
    if not value:
        return Check(
            name,
            Status.FAIL,
            "Not set. Copy the campaign ID of the API-triggered WhatsApp campaign that "
            "carries replies.",
        )
    if value == api_key:
        return Check(name, Status.FAIL, "Is the same as BRAZE_API_KEY; use the campaign's ID.")
    if "/" in value or any(char.isspace() for char in value):
        return Check(
            name,
            Status.FAIL,
            f"{value!r} is not a campaign ID (it has spaces or slashes); copy the campaign "
            "ID shown under the campaign's API identifiers, not its URL.",
        )
    if not _UUID.match(value):
        return Check(
            name,
            Status.WARN,
            f"{value!r} does not look like a Braze campaign ID (a UUID such as "
            "0a1b2c3d-4e5f-6789-abcd-ef0123456789).",
        )
    return Check(name, Status.OK, value)


def check_message_property(value: str) -> Check:
    name = "BRAZE_MESSAGE_PROPERTY"
    if not value:
        return Check(
            name,
            Status.FAIL,
            f"Not set. Use {DEFAULT_MESSAGE_PROPERTY}, the same name as in the reply "
            "campaign's body.",
        )
    liquid = "{{api_trigger_properties.${" + value + "}}}"
    if value == GUIDE_VARIANT_PROPERTY:
        return Check(
            name,
            Status.WARN,
            f"{value!r} is the spelling one step of Braze's guide uses; its own example "
            f"uses {DEFAULT_MESSAGE_PROPERTY!r}. Either works only if the reply campaign's "
            f"body is exactly {liquid}.",
        )
    if not _LIQUID_NAME.match(value):
        return Check(
            name,
            Status.WARN,
            f"{value!r} has characters other than letters, digits and _; make sure the "
            f"reply campaign's body is exactly {liquid}.",
        )
    return Check(name, Status.OK, f"{value} (the reply campaign's body must be {liquid})")


def check_webhook_secret(value: str) -> Check:
    name = "HANDOFF_WEBHOOK_SECRET"
    advice = (
        "use at least 32 random characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )
    if not value:
        return Check(name, Status.FAIL, f"Not set; {advice}.")
    if len(value) < MIN_WEBHOOK_SECRET_CHARS:
        return Check(name, Status.FAIL, f"Only {len(value)} characters; {advice}.")
    if value == DEV_WEBHOOK_SECRET:
        return Check(name, Status.WARN, f"Is the development default; {advice}.")
    if len(value) < GOOD_WEBHOOK_SECRET_CHARS:
        return Check(name, Status.WARN, f"Only {len(value)} characters; {advice}.")
    return Check(name, Status.OK, f"Set ({len(value)} characters, ends in {mask(value)}).")


def mask(secret: str) -> str:
    """The last four characters, and only for a secret long enough to keep most hidden."""
    return f"...{secret[-4:]}" if len(secret) >= 16 else "****"


# -- the test send ----------------------------------------------------------------------


def send_test_message(*, external_id: str, client: BrazeClient | None = None) -> Check:
    """One real trigger send, so a wrong key or campaign shows now rather than on replies."""
    client = client or BrazeClient()
    result = client.trigger_send(
        campaign_id=settings.BRAZE_CAMPAIGN_ID,
        external_user_id=external_id,
        properties={settings.BRAZE_MESSAGE_PROPERTY: TEST_TEXT},
    )
    return Check("Test send", *_explain(result, external_id=external_id))


def _explain(result: SendResult, *, external_id: str) -> tuple[Status, str]:
    campaign_id = settings.BRAZE_CAMPAIGN_ID
    braze_said = f"({result.error})" if result.error else ""
    if result.outcome is Outcome.ACCEPTED:
        dispatch = f", dispatch_id {result.dispatch_id}" if result.dispatch_id else ""
        return Status.OK, (
            f"Braze accepted a test message to external id {external_id!r} (HTTP "
            f"{result.status}{dispatch}): the key and campaign work. If the phone gets "
            "nothing, the user is unknown to Braze, the campaign is not launched, or the "
            "checklist below is not done."
        )
    if result.status in (401, 403):
        return Status.FAIL, (
            f"Braze refused the API key: BRAZE_API_KEY is wrong, belongs to another "
            f"workspace, or lacks the campaigns.trigger.send permission {braze_said}."
        )
    if result.status == 404 or (result.status == 400 and "campaign" in result.error.lower()):
        return Status.FAIL, (
            f"Braze does not know campaign {campaign_id!r}: check BRAZE_CAMPAIGN_ID, and "
            f"that BRAZE_REST_ENDPOINT is the instance the campaign lives on {braze_said}."
        )
    if result.outcome is Outcome.RATE_LIMITED:
        when = f" after {result.retry_at:%H:%M:%S} UTC" if result.retry_at is not None else " later"
        return Status.FAIL, f"Braze is rate limiting this key; try again{when} {braze_said}."
    if result.status is None:
        return Status.FAIL, (
            f"Braze's endpoint is unreachable at {settings.BRAZE_REST_ENDPOINT} "
            f"{braze_said}; check BRAZE_REST_ENDPOINT and this machine's network."
        )
    if result.outcome is Outcome.RETRY:
        return Status.FAIL, f"Braze had a problem on its side; try again later {braze_said}."
    return Status.FAIL, f"Braze rejected the test send {braze_said}."


# -- what to paste into the webhook campaign --------------------------------------------


def resolve_webhook_url(given: str | None = None) -> str:
    """The given URL, else https:// on the first public ALLOWED_HOSTS name, else a placeholder."""
    if given:
        return given
    path = reverse("braze-webhook")
    for host in settings.ALLOWED_HOSTS:
        host = host.strip()
        if not host or host == "*" or host.startswith("."):
            continue  # wildcards name no host
        if split_domain_port(host)[0] in _LOCAL_HOSTS or host == "testserver":
            continue  # Braze cannot reach these
        return f"https://{host}{path}"
    return WEBHOOK_URL_PLACEHOLDER


def check_webhook_url(url: str) -> Check:
    name = "Webhook URL"
    if url == WEBHOOK_URL_PLACEHOLDER:
        return Check(
            name,
            Status.WARN,
            "Unknown: pass --webhook-url, or list your public host name in ALLOWED_HOSTS.",
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return Check(name, Status.FAIL, f"{url!r} is not a URL.")
    if parts.scheme not in ("http", "https") or not host:
        return Check(name, Status.FAIL, f"{url!r} is not an http(s) URL.")
    problems = []
    if parts.scheme != "https" and host not in _LOCAL_HOSTS:
        problems.append("use https://, or the shared secret crosses the internet in clear")
    if parts.path.rstrip("/") != reverse("braze-webhook").rstrip("/"):
        problems.append(f"the webhook's path is {reverse('braze-webhook')}")
    if not validate_host(parts.netloc.rpartition("@")[2].lower(), settings.ALLOWED_HOSTS):
        problems.append(f"{host} is not in ALLOWED_HOSTS, so Django would answer Braze 400")
    if problems:
        return Check(name, Status.WARN, f"{url}: " + "; ".join(problems) + ".")
    return Check(name, Status.OK, url)


def webhook_headers() -> list[tuple[str, str]]:
    """The request headers for the webhook composer; the secret is shown masked."""
    secret = settings.HANDOFF_WEBHOOK_SECRET
    shown = f"<HANDOFF_WEBHOOK_SECRET, {mask(secret)}>" if secret else "<HANDOFF_WEBHOOK_SECRET>"
    return [("Content-Type", "application/json"), ("Authorization", f"Bearer {shown}")]


def campaign_checklist() -> list[str]:
    """What Braze's API does not let us read, so a person must check it in the dashboard."""
    prop = settings.BRAZE_MESSAGE_PROPERTY or DEFAULT_MESSAGE_PROPERTY
    campaign = settings.BRAZE_CAMPAIGN_ID or "BRAZE_CAMPAIGN_ID"
    return [
        f"Reply campaign ({campaign}): users become re-eligible after 0 minutes; otherwise "
        "Braze silently drops every reply after the first, whatever its API answers.",
        f"Reply campaign ({campaign}): exempt from frequency capping.",
        f"Reply campaign ({campaign}): launched, with message body exactly "
        f"{{{{api_trigger_properties.${{{prop}}}}}}}, the same name as "
        f"BRAZE_MESSAGE_PROPERTY ({prop}).",
        "Webhook campaign: users become re-eligible after 0 minutes; otherwise only each "
        "customer's first message reaches handoff.",
        "Webhook campaign: action-based, trigger 'Sent an inbound WhatsApp message', "
        "body and headers as above; one catch-all campaign, or keyword campaigns whose "
        "words do not overlap (a message matched twice arrives twice).",
    ]
