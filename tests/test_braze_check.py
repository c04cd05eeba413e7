"""`manage.py braze_check` against the stand-in Braze over real HTTP."""

import html
import io
import json
import re
import socket
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from handoff.braze.wiring import TEST_TEXT, WEBHOOK_BODY_TEMPLATE
from handoff.rules.payloads import validate
from tests.devtools.braze_standin import BrazeStandin
from tests.support.servers import BRAZE_API_KEY, CAMPAIGN_ID

README = Path(__file__).resolve().parents[1] / "README.md"
SEND = "/campaigns/trigger/send"
LONG_SECRET = "s" * 40


@pytest.fixture
def wired(settings, braze):
    """Settings that pass every check, pointed at the fresh stand-in."""
    settings.BRAZE_REST_ENDPOINT = braze.url
    settings.BRAZE_API_KEY = BRAZE_API_KEY
    settings.BRAZE_CAMPAIGN_ID = CAMPAIGN_ID
    settings.BRAZE_MESSAGE_PROPERTY = "external_system_msg_body"
    settings.HANDOFF_WEBHOOK_SECRET = LONG_SECRET
    return settings


def braze_check(*args: str) -> tuple[str, CommandError | None]:
    """Run the command; its output and the CommandError it ended with, if any."""
    out = io.StringIO()
    try:
        call_command("braze_check", *args, stdout=out, stderr=out)
    except CommandError as error:
        return out.getvalue() + str(error), error
    return out.getvalue(), None


def printed_template(output: str) -> str:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('{"user_id"'))
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith("}"))
    return "\n".join(lines[start : end + 1])


def render_liquid(template: str) -> str:
    """Fill the template's Liquid the way Braze would, json_escape included."""
    samples = {
        "${user_id}": "customer-1",
        "${phone_number}": "+15555550100",
        "whats_app.${inbound_profile_name}": 'Ana "the customer"',
        "whats_app.${inbound_message_body}": 'He said "hi" \\ then\nleft',
        "whats_app.${inbound_media_urls}": "",
        "campaign.${dispatch_id}": "dispatch-1",
        "${language}": "ja",
    }

    def fill(match: re.Match) -> str:
        tag, _, filter_ = match.group(1).partition("|")
        value = samples[tag.strip()]
        if filter_.strip() == "json_escape":
            return json.dumps(value)[1:-1]
        assert '"' not in value and "\\" not in value, f"{tag} needs json_escape"
        return value

    return re.sub(r"\{\{(.*?)\}\}(?!\})", fill, template)


def test_passes_against_the_standin_with_one_test_send(wired, braze):
    output, error = braze_check("--send-to", "customer-7")

    assert error is None, output
    assert "local stand-in" in output
    assert "0 failed" in output
    (request,) = braze.requests(SEND)
    assert request["status"] == 201
    assert request["body"]["campaign_id"] == CAMPAIGN_ID
    assert request["body"]["recipients"] == [
        {
            "external_user_id": "customer-7",
            "trigger_properties": {"external_system_msg_body": TEST_TEXT},
        }
    ]


def test_test_send_uses_the_configured_property_name(wired, braze):
    wired.BRAZE_MESSAGE_PROPERTY = "reply_text"

    output, error = braze_check("--send-to", "customer-7")

    assert error is None, output
    (message,) = braze.sent_messages()
    assert message["trigger_properties"] == {"reply_text": TEST_TEXT}


def test_without_send_to_nothing_is_sent_and_output_says_how_to_prove_it(wired, braze):
    output, error = braze_check()

    assert error is None, output
    assert braze.requests() == []
    assert "Not proven" in output and "--send-to" in output


def test_wrong_key_fails_naming_the_key_and_its_permission(wired, braze):
    wired.BRAZE_API_KEY = "wrong-key-0123456789abcd"

    output, error = braze_check("--send-to", "customer-7")

    assert error is not None
    assert "BRAZE_API_KEY" in output and "campaigns.trigger.send" in output
    assert "Test send" in str(error)


def test_unknown_campaign_fails_naming_the_campaign_id(wired):
    with BrazeStandin(api_key=BRAZE_API_KEY, campaign_ids=["another-campaign"]) as standin:
        wired.BRAZE_REST_ENDPOINT = standin.url
        output, error = braze_check("--send-to", "customer-7")

    assert error is not None
    assert f"Braze does not know campaign '{CAMPAIGN_ID}'" in output
    assert "Invalid Campaign ID" in output  # Braze's own words, too


def test_unknown_campaign_answered_with_404_fails_naming_the_campaign_id(wired):
    with BrazeStandin(
        api_key=BRAZE_API_KEY, campaign_ids=["another-campaign"], unknown_campaign_status=404
    ) as standin:
        wired.BRAZE_REST_ENDPOINT = standin.url
        output, error = braze_check("--send-to", "customer-7")
        (request,) = standin.requests("/campaigns/trigger/send")

    assert request["status"] == 404
    assert error is not None
    assert f"Braze does not know campaign '{CAMPAIGN_ID}'" in output


def test_rate_limit_fails_saying_so(wired, braze):
    braze.set_behaviour("rate_limit")

    output, error = braze_check("--send-to", "customer-7")

    assert error is not None
    assert "rate limiting" in output


def test_unreachable_endpoint_fails_saying_so(wired):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        wired.BRAZE_REST_ENDPOINT = f"http://127.0.0.1:{sock.getsockname()[1]}"
        output, error = braze_check("--send-to", "customer-7")

    assert error is not None
    assert "unreachable" in output


def test_missing_campaign_id_fails_naming_it_without_calling_braze(wired, braze):
    wired.BRAZE_CAMPAIGN_ID = ""

    output, error = braze_check("--send-to", "customer-7")

    assert error is not None
    assert "BRAZE_CAMPAIGN_ID" in str(error)
    assert re.search(r"\[FAIL\] BRAZE_CAMPAIGN_ID: Not set", output)
    assert braze.requests() == []


@pytest.mark.parametrize(
    ("endpoint", "words"),
    [
        ("rest.iad-01.braze.com", "https://"),
        ("http://rest.iad-01.braze.com", "https://"),
        ("https://dashboard-01.braze.com", "dashboard"),
        ("https://rest.iad-01.braze.com/campaigns/trigger/send", "path"),
        ("https://api.example.com", "does not look like a Braze REST endpoint"),
    ],
)
def test_malformed_endpoint_fails_with_the_reason(wired, endpoint, words):
    wired.BRAZE_REST_ENDPOINT = endpoint

    output, error = braze_check()

    assert error is not None
    line = next(line for line in output.splitlines() if "BRAZE_REST_ENDPOINT:" in line)
    assert "[FAIL]" in line and words in line


@pytest.mark.parametrize(
    "endpoint", ["https://rest.iad-01.braze.com", "https://rest.fra-02.braze.eu"]
)
def test_braze_endpoints_pass(wired, endpoint):
    wired.BRAZE_REST_ENDPOINT = endpoint

    output, error = braze_check()

    assert error is None, output
    assert f"[ok]   BRAZE_REST_ENDPOINT: {endpoint}" in output


def test_short_webhook_secret_fails(wired):
    wired.HANDOFF_WEBHOOK_SECRET = "short"

    output, error = braze_check()

    assert error is not None
    assert "HANDOFF_WEBHOOK_SECRET" in str(error)


def test_guide_spelling_of_the_property_is_a_warning_not_a_failure(wired):
    wired.BRAZE_MESSAGE_PROPERTY = "external_system_msg+body"

    output, error = braze_check()

    assert error is None, output
    assert re.search(r"\[warn\] BRAZE_MESSAGE_PROPERTY: .*external_system_msg_body", output)


def test_the_api_key_and_webhook_secret_never_appear_in_the_output(wired, braze):
    outputs = [braze_check("--send-to", "customer-7")[0], braze_check()[0]]
    wired.BRAZE_API_KEY = "wrong-key-0123456789abcd"
    outputs.append(braze_check("--send-to", "customer-7")[0])

    for output in outputs:
        assert BRAZE_API_KEY not in output
        assert "wrong-key-0123456789abcd" not in output
        assert LONG_SECRET not in output
    assert "...abcd" in outputs[-1]  # at most the last four characters


def test_printed_template_renders_to_a_body_the_webhook_accepts(wired):
    output, _ = braze_check()

    template = printed_template(output)
    data = json.loads(render_liquid(template))
    payload = validate(data)

    assert "| json_escape" in template and "message_id" in data
    assert payload.user_id == "customer-1"
    assert payload.message == 'He said "hi" \\ then\nleft'
    assert payload.name == 'Ana "the customer"'
    assert payload.message_id == "dispatch-1"


def test_readme_shows_the_same_template_as_the_command():
    readme = "\n".join(line.strip() for line in README.read_text().splitlines())
    template = "\n".join(line.strip() for line in WEBHOOK_BODY_TEMPLATE.splitlines())

    assert template in readme


def test_webhook_url_and_masked_header_are_printed(wired):
    wired.ALLOWED_HOSTS = ["*", "localhost", "handoff.example.com"]

    output, _ = braze_check()

    assert "URL: https://handoff.example.com/webhooks/braze/whatsapp/" in output
    assert "Authorization: Bearer <HANDOFF_WEBHOOK_SECRET, ...ssss>" in output


def test_webhook_url_option_wins_and_is_checked_against_allowed_hosts(wired):
    wired.ALLOWED_HOSTS = ["handoff.example.com"]

    output, error = braze_check(
        "--webhook-url", "https://other.example.com/webhooks/braze/whatsapp/"
    )

    assert error is None, output
    assert "URL: https://other.example.com/webhooks/braze/whatsapp/" in output
    assert re.search(r"\[warn\] Webhook URL: .*not in ALLOWED_HOSTS", output)


def test_checklist_names_re_eligibility_frequency_capping_and_the_property(wired):
    wired.BRAZE_MESSAGE_PROPERTY = "reply_text"

    output, _ = braze_check()

    checklist = output.split("Check by hand in Braze", 1)[1]
    assert checklist.count("re-eligible after 0 minutes") == 2
    assert "frequency capping" in checklist
    assert "{{api_trigger_properties.${reply_text}}}" in checklist


# -- the admin page shows the same --------------------------------------------------------


def test_admin_page_shows_the_checks_template_and_checklist_to_staff(wired, admin_client, braze):
    wired.BRAZE_CAMPAIGN_ID = ""

    page = admin_client.get("/admin/braze-setup/").content.decode()

    assert "BRAZE_CAMPAIGN_ID" in page and "Not set" in page
    body = re.search(r'<pre id="braze-webhook-body">(.*?)</pre>', page, re.S).group(1)
    assert html.unescape(body) == WEBHOOK_BODY_TEMPLATE
    assert 'data-copy="braze-webhook-body"' in page
    assert "re-eligible after 0 minutes" in page
    assert BRAZE_API_KEY not in page and LONG_SECRET not in page
    assert braze.requests() == []  # the page never sends


def test_admin_page_is_for_staff_only(client, django_user_model):
    anonymous = client.get("/admin/braze-setup/")
    agent = django_user_model.objects.create_user("agent", password="pw-123456789")
    client.force_login(agent)
    not_staff = client.get("/admin/braze-setup/")

    assert anonymous.status_code == not_staff.status_code == 302
    assert "/admin/login/" in not_staff["Location"]


def test_admin_index_links_to_the_page(admin_client):
    assert 'href="/admin/braze-setup/"' in admin_client.get("/admin/").content.decode()
