"""Security settings and headers: no password-reset pages, the Braze setup page for
superusers, Content-Security-Policy, no caching of customer data, an access log without
query strings, proxy headers trusted only behind a proxy, and webhook secret rotation.
"""

import asyncio
import json
import logging
import os
import re
import subprocess
import sys

import pytest
import requests
from asgiref.sync import async_to_sync
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE, NONE, SELF
from csp.decorators import csp, csp_exempt, csp_replace, csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.contrib.auth.models import Permission
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory
from django.utils import deprecation
from playwright.sync_api import expect

from handoff.models import EscalationRule, FaqEntry, Message
from handoff.web import webhook
from handoff.web.access_log import access_log_without_queries
from handoff.web.loop_middleware import ContentSecurityPolicyMiddleware
from tests.conftest import ARTIFACTS, wait_until
from tests.support.agents import login, make_agent
from tests.support.factories import webhook_body
from tests.support.servers import ROOT, WEBHOOK_SECRET, AppServer, server_env
from tests.test_browser import PASSWORD, Tab, chromium, sign_in, tab  # noqa: F401 - fixtures


@pytest.fixture
def agent(agents_group, django_user_model):
    user = django_user_model.objects.create_user("aiko", password="agent-password-1")
    user.groups.add(agents_group)
    return user


# -- password reset is gone; password change stays ------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_the_password_reset_pages_are_gone(client, path):
    assert client.get(path).status_code == 404


def test_an_agent_changes_their_own_password(client, agent):
    client.force_login(agent)
    assert client.get("/accounts/password_change/").status_code == 200

    weak = client.post(
        "/accounts/password_change/",
        {"old_password": "agent-password-1", "new_password1": "a", "new_password2": "a"},
    )
    changed = client.post(
        "/accounts/password_change/",
        {
            "old_password": "agent-password-1",
            "new_password1": "a-new-long-password-2",
            "new_password2": "a-new-long-password-2",
        },
    )

    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert changed.status_code == 302 and changed["Location"] == "/accounts/password_change/done/"
    agent.refresh_from_db()
    assert agent.check_password("a-new-long-password-2")


@pytest.mark.django_db
def test_password_change_needs_a_signed_in_user(client):
    response = client.get("/accounts/password_change/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# -- the Braze setup page is for superusers ------------------------------------------------------


@pytest.mark.django_db
def test_the_braze_setup_page_refuses_staff_who_are_not_superusers(client, django_user_model):
    staff = django_user_model.objects.create_user("sam", password="x", is_staff=True)
    # Even with every permission of the app: the page is for whoever holds the secrets.
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="handoff"))
    client.force_login(staff)

    assert client.get("/admin/braze-setup/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert "/admin/braze-setup/" not in index


def test_the_braze_setup_page_opens_for_a_superuser(admin_client):
    assert admin_client.get("/admin/braze-setup/").status_code == 200


# -- Content-Security-Policy -----------------------------------------------------------------


def _directives(response) -> dict[str, str]:
    """The policy of a response (Django's or requests' headers) as {directive: sources}:
    django-csp orders the directives by a set, which differs from process to process."""
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/admin/", "/admin/login/"])
def test_every_page_has_a_strict_content_security_policy(admin_client, path):
    directives = _directives(admin_client.get(path))

    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"  # also ws: and wss: to this host
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in " ".join(directives.values())


def test_the_inbox_and_admin_pages_run_in_chromium_without_a_csp_violation(
    live,
    agents_group,
    django_user_model,
    tab,  # noqa: F811 - the fixture imported above
):
    """The inbox (socket, list, thread, reply) and the admin pages handoff adds, under
    the policy: the browser reports no violation and no console error."""
    console: list[str] = []
    tab.page.on("response", lambda r: r.status >= 400 and console.append(f"{r.status} {r.url}"))
    tab.page.on(
        "console",
        lambda message: (
            message.type == "error"
            and console.append(f"{message.text} {message.location.get('url')}")
        ),
    )
    tab.page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    make_agent("aiko")
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)

    sign_in(tab, live.url, "aiko")
    page = tab.page
    live.post_webhook(webhook_body("u-csp", "I want to talk to an agent", name="Sato"))
    row = page.locator("#conversation-list .row", has_text="Sato")
    expect(row).to_be_visible(timeout=10_000)  # pushed over the websocket
    row.click()
    page.get_by_role("button", name=re.compile(r"^Claim")).click()
    expect(page.locator("#transcript")).to_contain_text("Claimed by aiko")
    page.locator("#reply").fill("Hello Sato")
    page.locator("#reply").press("Enter")
    expect(page.locator("#reply")).to_have_value("")
    wait_until(lambda: Message.objects.filter(text="Hello Sato").exists())
    assert page.evaluate("() => window.__csp") == []

    django_user_model.objects.create_superuser("root", "", "root-password-1")
    page.goto(live.url + "/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("root-password-1")
    page.get_by_role("button", name="Log in").click()
    for path in [
        "/admin/",
        "/admin/braze-setup/",
        "/admin/handoff/faqentry/try-bot/",
        "/admin/handoff/faqentry/add/",
        "/admin/handoff/escalationrule/",
    ]:
        page.goto(live.url + path)
        expect(page.locator("#content")).to_be_visible()
        assert page.evaluate("() => window.__csp") == [], path
    # The bot's answer, shown with its line breaks kept (a class, not a style="").
    page.goto(live.url + "/admin/handoff/faqentry/try-bot/")
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9:00\n18:00")
    page.get_by_label("Customer message").fill("What are your opening hours?")
    page.locator("#try-bot-form [type=submit]").click()
    expect(page.locator("#try-bot-answer")).to_be_visible()
    assert page.evaluate("() => window.__csp") == []

    assert console == []
    assert tab.errors == []


# -- django-csp's own policy, on the event loop ----------------------------------------------

# Every feature of django-csp at once: a nonce, an excluded prefix, a report-only policy.
EVERY_FEATURE = {
    "EXCLUDE_URL_PREFIXES": ["/excluded/"],
    "DIRECTIVES": {"default-src": [SELF], "script-src": [SELF, NONCE], "img-src": [SELF]},
}
REPORT_ONLY = {"DIRECTIVES": {"default-src": [NONE], "report-uri": "/csp-reports/"}}


def _plain(request):
    return HttpResponse("ok")


def _with_a_nonce(request):
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")


VIEWS = {
    "plain": _plain,
    "nonce": _with_a_nonce,
    "csp": csp({"default-src": [NONE]})(_plain),
    "csp_update": csp_update({"img-src": "https://images.example"})(_with_a_nonce),
    "csp_replace": csp_replace({"script-src": None})(_plain),
    "csp_exempt": csp_exempt()(_plain),
    "csp_update report-only": csp_update({"img-src": "data:"}, REPORT_ONLY=True)(_plain),
    "csp_exempt report-only": csp_exempt(REPORT_ONLY=True)(_plain),
}


def _policies(request, response) -> dict[str, str | None]:
    """Both headers, the request's nonce (random each time) written as <nonce>."""
    nonce = getattr(request, "_csp_nonce", None)
    found = {name: response.get(name) for name in (HEADER, HEADER_REPORT_ONLY)}
    if nonce:
        found = {name: value and value.replace(nonce, "<nonce>") for name, value in found.items()}
    return found


@pytest.mark.parametrize("path", ["/inbox/", "/excluded/page/"])
@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS)
def test_on_the_loop_and_off_it_the_policy_is_the_one_django_csp_writes(settings, view, path):
    """Nonce, excluded prefixes, report-only and the per-view decorators: our middleware
    writes what django-csp's own writes, on the async path (daphne's) and the sync one."""
    settings.CONTENT_SECURITY_POLICY = EVERY_FEATURE
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = REPORT_ONLY

    async def on_the_loop(request):
        return view(request)

    theirs, on_loop, off_loop = (RequestFactory().get(path) for _ in range(3))
    expected = _policies(theirs, CSPMiddleware(view)(theirs))
    answer = asyncio.run(ContentSecurityPolicyMiddleware(on_the_loop)(on_loop))
    assert _policies(on_loop, answer) == expected
    assert _policies(off_loop, ContentSecurityPolicyMiddleware(view)(off_loop)) == expected
    if path == "/inbox/" and view in (_with_a_nonce, VIEWS["csp_update"]):
        assert "'nonce-<nonce>'" in expected[HEADER]


def test_on_the_loop_a_nonce_asked_for_after_the_header_is_written_is_refused():
    async def on_the_loop(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    asyncio.run(ContentSecurityPolicyMiddleware(on_the_loop)(request))

    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_under_daphne_the_inbox_admin_api_and_webhook_carry_django_csps_policy(
    live, agents_group, django_user_model
):
    """The web process runs the middleware on the event loop; every kind of answer
    carries the header django-csp's own middleware writes for these settings."""
    root = django_user_model.objects.create_superuser("root", "", "root-password-1")
    root.groups.add(agents_group)
    session = login(live.url, "root", "root-password-1")
    answers = {
        "inbox": session.get(live.url + "/", timeout=10),
        "admin": session.get(live.url + "/admin/", timeout=10),
        "api": session.get(live.url + "/api/me/", timeout=10),
        "webhook": live.post_webhook(webhook_body("u-csp-loop", "hello")),
    }
    stock = CSPMiddleware(_plain)(RequestFactory().get("/"))

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
    for name, answer in answers.items():
        assert _directives(answer.headers) == _directives(stock), name
        assert HEADER_REPORT_ONLY not in answer.headers, name
    assert len({answer.headers[HEADER] for answer in answers.values()}) == 1


@pytest.mark.django_db
def test_on_the_async_path_the_policy_is_written_without_a_thread_hop(monkeypatch):
    """`MiddlewareMixin` hands a sync-only middleware's hooks to a worker thread on
    every request under daphne; django-csp's now run on the loop."""
    hopped = []
    real = deprecation.sync_to_async

    def recording(hook, *, thread_sensitive=True):
        hopped.append(type(hook.__self__).__name__)
        return real(hook, thread_sensitive=thread_sensitive)

    monkeypatch.setattr(deprecation, "sync_to_async", recording)

    answer = async_to_sync(AsyncClient().get)("/accounts/login/")

    assert answer.status_code == 200 and _directives(answer)["script-src"] == "'self'"
    assert "SessionMiddleware" in hopped  # the recording sees the hops there are
    assert not [name for name in hopped if "ContentSecurityPolicy" in name or "CSP" in name]


# -- Cache-Control: no-store on customer data ------------------------------------------------------


def test_api_answers_are_never_stored(client, agent):
    anonymous = client.get("/api/me/")
    client.force_login(agent)

    for response in [
        anonymous,
        client.get("/api/me/"),
        client.get("/api/conversations/", {"queue": "all", "q": "9012"}),
        client.get("/api/no-such-endpoint/"),
    ]:
        assert response["Cache-Control"] == "no-store", response.request["PATH_INFO"]


def test_the_webhook_answer_is_never_stored(live):
    accepted = live.post_webhook(webhook_body("u-cache", "hello"))
    refused = live.post_webhook(webhook_body("u-cache", "hello"), secret="wrong")

    assert accepted.status_code == 200 and refused.status_code == 401
    assert accepted.headers["Cache-Control"] == refused.headers["Cache-Control"] == "no-store"


# -- the access log leaves query strings out -------------------------------------------------------


def test_the_access_log_wrapper_drops_the_query_string():
    seen = []
    log = access_log_without_queries(lambda *entry: seen.append(entry))

    log("http", "complete", {"path": "/api/conversations/?q=%2B819012345678", "status": 200})
    log("websocket", "connected", {"path": "/ws/inbox/?token=x"})
    log("http", "complete", {"path": "/healthz", "status": 200})

    assert [details["path"] for _p, _a, details in seen] == [
        "/api/conversations/",
        "/ws/inbox/",
        "/healthz",
    ]
    assert access_log_without_queries(None) is None


def test_a_search_for_a_phone_number_leaves_no_trace_in_the_server_output(live, agents_group):
    make_agent("aiko")
    session = login(live.url, "aiko")
    log_path = ARTIFACTS / "daphne.log"
    start = log_path.stat().st_size

    for q in ["+819055501234", "819055501234", "Hanako Yamada"]:
        found = session.get(
            live.url + "/api/conversations/", params={"queue": "all", "q": q}, timeout=10
        )
        assert found.status_code == 200

    def written() -> str:
        return log_path.read_bytes()[start:].decode(errors="replace")

    # The access log line is written once the answer is complete: wait for all three.
    wait_until(
        lambda: written().count("GET /api/conversations/") >= 3,
        message="the access log has no line for the searches",
    )
    output = written()
    assert "9055501234" not in output and "Hanako" not in output and "Yamada" not in output
    assert "?" not in "".join(line for line in output.splitlines() if "/api/conversations/" in line)


# -- proxy headers, HSTS preload, check --deploy --------------------------------------------------

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-key-" + "q7Zx" * 12,
    "HANDOFF_WEBHOOK_SECRET": "a-webhook-secret-of-thirty-two-c",
    "ALLOWED_HOSTS": "handoff.example.com",
    "DJANGO_SETTINGS_MODULE": "handoff.settings",
}


def _production_env(**overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HANDOFF_", "SECURE_", "DJANGO_"))
        and name not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}
    }
    return {**env, **PRODUCTION, **overrides}


def _settings_of(**env: str) -> dict:
    code = (
        "import json; from django.conf import settings; print(json.dumps({"
        "'proxy': settings.SECURE_PROXY_SSL_HEADER, 'preload': settings.SECURE_HSTS_PRELOAD,"
        "'behind': settings.HANDOFF_BEHIND_PROXY}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_proxy_headers_and_hsts_preload_are_off_unless_asked_for():
    assert _settings_of() == {"proxy": None, "preload": False, "behind": False}
    assert _settings_of(HANDOFF_BEHIND_PROXY="true", SECURE_HSTS_PRELOAD="true") == {
        "proxy": ["HTTP_X_FORWARDED_PROTO", "https"],
        "preload": True,
        "behind": True,
    }
    # The setting's former name still means a proxy is in front.
    assert _settings_of(HANDOFF_TRUST_X_FORWARDED_FOR="true")["behind"] is True


@pytest.mark.parametrize(
    "env",
    [{}, {"HANDOFF_BEHIND_PROXY": "true"}, {"SECURE_HSTS_PRELOAD": "true"}],
    ids=["defaults", "behind-a-proxy", "preload"],
)
def test_check_deploy_is_clean(env):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "no issues" in done.stdout


def test_without_a_proxy_a_forwarded_https_header_is_not_believed(client, settings):
    """The test settings are production's, without HANDOFF_BEHIND_PROXY."""
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301 and response["Location"].startswith("https://")


# -- webhook secret rotation ---------------------------------------------------------------------

OLD, NEW = "old-secret-" + "o" * 24, "new-secret-" + "n" * 24


def _matching(secret_header: str) -> str | None:
    request = RequestFactory().post("/webhooks/braze/whatsapp/", HTTP_AUTHORIZATION=secret_header)
    return webhook._matching_secret(request)


def test_during_a_rotation_both_secrets_are_accepted_and_named(settings):
    settings.HANDOFF_WEBHOOK_SECRET = NEW
    settings.HANDOFF_WEBHOOK_SECRET_PREVIOUS = OLD

    assert _matching(f"Bearer {NEW}") == "current"
    assert _matching(f"Bearer {OLD}") == "previous"
    assert _matching("Bearer something-else") is None
    assert _matching(f"Basic {NEW}") is None


def test_outside_a_rotation_the_old_secret_and_an_empty_token_are_refused(settings):
    settings.HANDOFF_WEBHOOK_SECRET = NEW
    settings.HANDOFF_WEBHOOK_SECRET_PREVIOUS = ""

    assert _matching(f"Bearer {OLD}") is None
    assert _matching("Bearer ") is None
    assert _matching(f"Bearer {NEW}") == "current"


def test_use_of_the_previous_secret_is_logged_at_most_once_a_minute(caplog):
    now = [1000.0]
    use = webhook.PreviousSecretUse(interval=60, clock=lambda: now[0])

    with caplog.at_level(logging.WARNING, logger="handoff.web.webhook"):
        use.record()  # noticed at once
        for _ in range(4):
            now[0] += 10
            use.record()  # counted
        now[0] += 30
        use.record()  # 70 s after the first notice: the five since then

    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 2
    assert notices[0].startswith("1 webhook request(s)")
    assert notices[1].startswith("5 webhook request(s)")
    assert "HANDOFF_WEBHOOK_SECRET_PREVIOUS" in notices[0]


@pytest.fixture
def rotating_server(transactional_db, session_braze):
    from django.db import connection

    log = ARTIFACTS / "daphne-rotation.log"
    ARTIFACTS.mkdir(exist_ok=True)
    log.write_text("")
    env = server_env(
        connection.settings_dict,
        session_braze.url,
        HANDOFF_WEBHOOK_SECRET=NEW,
        HANDOFF_WEBHOOK_SECRET_PREVIOUS=OLD,
    )
    server = AppServer(env, log).start()
    yield server
    server.stop()


def test_a_rotation_loses_no_message_and_says_when_the_old_secret_is_still_used(
    rotating_server,
):
    old = rotating_server.post_webhook(webhook_body("u-rot-1", "sent with the old"), secret=OLD)
    new = rotating_server.post_webhook(webhook_body("u-rot-2", "sent with the new"), secret=NEW)
    stale = rotating_server.post_webhook(
        webhook_body("u-rot-3", "another secret"), secret=WEBHOOK_SECRET
    )

    assert old.status_code == new.status_code == 200
    assert stale.status_code == 401
    log = rotating_server.log_path
    wait_until(lambda: "HANDOFF_WEBHOOK_SECRET_PREVIOUS" in log.read_text())
    output = log.read_text()
    assert "1 webhook request(s) authenticated with HANDOFF_WEBHOOK_SECRET_PREVIOUS" in output
    assert OLD not in output and NEW not in output
    assert requests.get(rotating_server.url + "/healthz", timeout=5).status_code == 200
