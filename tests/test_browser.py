"""The agents' inbox in a real browser: Debian's Chromium, driven by Playwright, against
the app under daphne and the stand-in Braze.

These tests fail (never skip) when Chromium is missing: `make test` installs it.
Screenshots go to test-artifacts/.
"""

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from handoff.models import Contact, EscalationRule, FaqEntry, Message
from tests.conftest import ARTIFACTS
from tests.support.agents import login, make_agent
from tests.support.factories import webhook_body

pytestmark = pytest.mark.server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "agent-password-1"


@pytest.fixture
def chromium(monkeypatch):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM
    # calls are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Tab:
    """A page plus what it did that a test must check: dialogs, script errors, console
    errors, sockets. A page whose script throws or logs an error is a broken product,
    so `assert_clean()` fails on any of them unless the test allowed it by name."""

    def __init__(self, browser, locale: str = "en-US"):
        self.context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 860})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.console_errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.sockets: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message):
        if message.type == "error":
            url = message.location.get("url", "")
            self.console_errors.append(f"{message.text} [{url}]" if url else message.text)

    def allow_console_errors(self, pattern: str) -> None:
        """Console errors the test provokes on purpose (a refused request, a lost socket)."""
        self.allowed.append(re.compile(pattern))

    def assert_clean(self) -> None:
        unexpected = [
            error
            for error in self.console_errors
            if not any(pattern.search(error) for pattern in self.allowed)
        ]
        assert self.errors == [], f"script errors on the page: {self.errors}"
        assert unexpected == [], f"console errors on the page: {unexpected}"

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def keep_evidence(self, name: str) -> None:
        """What the page showed when its test failed; never raises over the failure."""
        name = re.sub(r"[^\w.-]+", "-", name)[:120]
        try:
            self.screenshot(name)
            (ARTIFACTS / f"{name}.html").write_text(self.page.content())
            console = self.errors + self.console_errors
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console))
        except Exception as error:  # noqa: BLE001 - evidence is best effort
            print(f"could not keep the page of {name}: {error}")


@pytest.fixture
def tab(chromium, request):
    """A fresh page; checked for script and console errors when the test ends, too. A
    failed test leaves the page's screenshot, HTML and console in test-artifacts/."""
    opened = Tab(chromium)
    yield opened
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        opened.keep_evidence(f"failed-{request.node.name}")
    opened.context.close()
    opened.assert_clean()


def sign_in(tab: Tab, base_url: str, username: str, password: str = PASSWORD) -> None:
    page = tab.page
    page.goto(base_url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base_url + "/")
    expect(page.locator("#app")).to_have_attribute("data-connection", "online")


@pytest.fixture
def escalate_on_agent(live):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)


def test_agent_claims_a_new_chat_without_reloading_and_sees_the_reply_sent(
    live, agents_group, escalate_on_agent, session_braze, tab
):
    make_agent("aiko")
    # Record browser notifications instead of showing them.
    tab.page.add_init_script(
        "window.__notes = [];"
        "window.Notification = class { constructor(title, options) {"
        " window.__notes.push(title + ' / ' + options.body); }"
        " static get permission() { return 'granted'; }"
        " static requestPermission() { return Promise.resolve('granted'); } };"
    )
    sign_in(tab, live.url, "aiko")
    page = tab.page
    expect(page.locator("#list-empty")).to_be_visible()
    # Loaded once; from now on the socket brings the tabs' counts (`?counts=1`).
    counts_asked = []
    page.on("request", lambda request: "/api/counts/" in request.url and counts_asked.append(1))

    live.post_webhook(webhook_body("u-browser", "I want to talk to an agent", name="Sato"))

    row = page.locator("#conversation-list .row", has_text="Sato")
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator(".wait")).to_be_visible()
    # The customer's message came while the chat was the bot's, a list this page does
    # not show (so not sent to it); the hand-over brought the row with its preview.
    expect(row.locator(".row-preview")).to_have_text("I want to talk to an agent")
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator('[data-count="waiting"]')).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    # The alert waits a moment (a chat handoff assigns at once is not worth a sound).
    page.wait_for_function("() => window.__notes.length > 0")
    assert page.evaluate("() => window.__notes") == ["Sato is waiting / keyword “agent”"]
    row.click()
    expect(page.locator("#reason-chip")).to_have_text("Handed over: keyword “agent”")
    expect(page.locator("#transcript")).to_contain_text("I want to talk to an agent")
    expect(page.locator("#transcript")).to_contain_text("Escalated: keyword “agent”")
    expect(page.locator("#contact-external")).to_have_text("u-browser")

    page.get_by_role("button", name=re.compile(r"^Claim")).click()
    expect(page.locator("#thread-state")).to_have_text("Assigned to aiko")
    expect(page.locator("#transcript")).to_contain_text("Claimed by aiko")
    expect(page.locator('[data-count="mine"]')).to_have_text("1")
    expect(page.locator('[data-count="waiting"]')).to_have_text("0")
    assert counts_asked == []

    reply = page.locator("#reply")
    reply.fill("Hello Sato, this is Aiko.")
    reply.press("Shift+Enter")
    reply.type("How can I help?")
    reply.press("Enter")
    text = "Hello Sato, this is Aiko.\nHow can I help?"
    sent = page.locator(".msg-agent", has_text="How can I help?")
    expect(sent.locator(".delivery-state")).to_have_attribute("data-state", "sent", timeout=15_000)
    expect(reply).to_have_value("")

    delivered = [
        m["trigger_properties"]["external_system_msg_body"]
        for m in session_braze.sent_messages()
        if m["external_user_id"] == "u-browser"
    ]
    assert text in delivered
    [request] = [
        r
        for r in session_braze.requests(path="/campaigns/trigger/send")
        if r["body"]["recipients"][0]["trigger_properties"]["external_system_msg_body"] == text
    ]
    assert request["status"] == 201
    message = Message.objects.get(author_kind=Message.AuthorKind.AGENT)
    assert message.dispatch_id == request["dispatch_id"]
    assert message.author.username == "aiko"
    tab.screenshot("inbox-reply-sent")
    tab.assert_clean()


def test_a_reply_braze_refuses_shows_why_and_is_sent_by_the_retry_button(
    live, agents_group, escalate_on_agent, session_braze, tab
):
    make_agent("fumi")
    sign_in(tab, live.url, "fumi")
    page = tab.page
    live.post_webhook(webhook_body("u-retry", "agent please", name="Mori"))
    page.locator(".row", has_text="Mori").click()
    page.keyboard.press("c")  # at once: the claim waits for the conversation to load
    expect(page.locator("#thread-state")).to_have_text("Assigned to fumi")
    expect(page.locator('[data-count="mine"]')).to_have_text("1")
    expect(page.locator(".msg-system .delivery-state")).to_have_attribute(
        "data-state", "sent", timeout=10_000
    )

    session_braze.set_behaviour("unauthorized", count=1)
    page.locator("#reply").fill("Sorry for the wait.")
    page.locator("#reply").press("Enter")

    reply = page.locator(".msg-agent", has_text="Sorry for the wait.")
    expect(reply.locator(".delivery-state")).to_have_attribute(
        "data-state", "failed", timeout=10_000
    )
    expect(reply.locator(".error-text")).not_to_be_empty()
    expect(page.locator("#transcript")).to_contain_text("Delivery failed:")
    tab.screenshot("inbox-delivery-failed")
    reply.get_by_role("button", name="Retry").click()
    expect(reply.locator(".delivery-state")).to_have_attribute("data-state", "sent", timeout=10_000)
    expect(page.locator("#transcript")).to_contain_text("Delivery retried by fumi")
    tab.assert_clean()


def test_customer_markup_is_shown_as_text_and_never_runs(
    live, agents_group, escalate_on_agent, tab
):
    make_agent("ben")
    sign_in(tab, live.url, "ben")
    page = tab.page
    hostile = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1"> agent'
    hostile_name = '<img src=x onerror="window.__pwned=1;alert(1)">'

    live.post_webhook(webhook_body("u-xss", hostile, name=hostile_name))

    row = page.locator("#conversation-list .row").first
    expect(row.locator(".row-name")).to_have_text(hostile_name, timeout=10_000)
    row.click()
    expect(page.locator("#thread-name")).to_have_text(hostile_name)
    expect(page.locator(".msg-customer .msg-text")).to_have_text(hostile)
    page.keyboard.press("c")  # claim, so the customer's text also shows in the list's preview
    expect(page.locator("#thread-state")).to_have_text("Assigned to ben")
    page.wait_for_timeout(300)

    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#app img, #app script").count() == 0
    assert tab.dialogs == []
    tab.assert_clean()
    tab.screenshot("inbox-hostile-text")


def test_bidi_overrides_cannot_disguise_a_name_or_reorder_the_page(
    live, agents_group, escalate_on_agent, tab
):
    make_agent("ben")
    sign_in(tab, live.url, "ben")
    page = tab.page
    text = "agent \u202eplease\u202c and \u2067more"

    live.post_webhook(webhook_body("u-bidi", text, name="x\u202etxt.exe"))

    row = page.locator("#conversation-list .row").first
    expect(row.locator(".row-name")).to_have_text("xtxt.exe", timeout=10_000)
    row.click()
    expect(page.locator("#thread-name")).to_have_text("xtxt.exe")
    expect(page.locator(".msg-customer .msg-text")).to_have_text(text)  # kept intact
    isolated = page.evaluate(
        """() => ['.row-name', '.row-preview', '#thread-name', '.msg-customer .msg-author',
                  '.msg-customer .msg-text']
            .map((s) => [s, getComputedStyle(document.querySelector(s)).unicodeBidi])"""
    )
    assert isolated == [[selector, "isolate"] for selector, _ in isolated]
    assert Contact.objects.get(external_id="u-bidi").name == "xtxt.exe"
    assert tab.errors == []


def test_the_page_shows_offline_and_resumes_after_the_server_comes_back(
    live, agents_group, escalate_on_agent, tab
):
    make_agent("chie")
    sign_in(tab, live.url, "chie")
    page = tab.page
    banner = page.locator("#connection-banner")
    expect(banner).to_be_hidden()

    # The server is killed on purpose: Chromium logs the refused requests and socket,
    # and a request the kill caught midway as reset or unanswered.
    tab.allow_console_errors(
        r"net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)"
        r"|WebSocket connection to .* failed"
    )
    live.kill()
    try:
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("Offline")
        tab.screenshot("inbox-offline")
    finally:
        live.start()
    expect(page.locator("#app")).to_have_attribute("data-connection", "online", timeout=40_000)
    expect(banner).to_be_hidden()
    assert re.search(r"/ws/inbox/\?pack=1&counts=1&after=\d+&listing=waiting$", tab.sockets[-1]), (
        tab.sockets
    )

    live.post_webhook(webhook_body("u-back", "agent please", name="Back Again"))
    expect(page.locator("#conversation-list .row", has_text="Back Again")).to_be_visible(
        timeout=10_000
    )
    tab.assert_clean()


def test_two_agents_see_each_other_and_hand_a_bot_chat_over_with_the_keyboard(
    live, agents_group, chromium
):
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9:00-18:00.")
    make_agent("aiko")
    make_agent("ben")
    aiko, ben = Tab(chromium), Tab(chromium)
    try:
        sign_in(aiko, live.url, "aiko")
        sign_in(ben, live.url, "ben")
        expect(aiko.page.locator("#presence")).to_contain_text("ben")
        live.post_webhook(webhook_body("u-keys", "What are your opening hours?", name="Kato"))

        for tab in (aiko, ben):
            tab.page.keyboard.press("3")  # the Bot queue
            expect(tab.page.locator(".row", has_text="Kato")).to_be_visible(timeout=10_000)
            tab.page.keyboard.press("j")
            expect(tab.page.locator("#thread-name")).to_have_text("Kato")
        # Wait for the bot's answer, so that the take-over below comes after it.
        expect(aiko.page.locator("#transcript")).to_contain_text("9:00-18:00.")
        expect(aiko.page.locator("#activity")).to_have_text("ben is viewing")
        ben.page.locator("#reply").type("Hel")
        expect(aiko.page.locator("#activity")).to_have_text("ben is typing…")
        ben.page.locator("#reply").fill("")
        ben.page.keyboard.press("Escape")

        aiko.page.keyboard.press("o")  # take over from the bot
        expect(aiko.page.locator("#thread-state")).to_have_text("Assigned to aiko")
        expect(aiko.page.locator(".bot-part summary")).to_have_text("Bot conversation (2 messages)")
        expect(ben.page.locator("#reply")).to_be_disabled()
        expect(ben.page.locator("#composer-reason")).to_have_text(
            "aiko is handling this conversation. Only they can reply."
        )

        # The socket's event can show the new state before the API call that
        # caused it returns; the composer takes focus only then.
        expect(aiko.page.locator("#reply")).to_be_focused()
        aiko.page.keyboard.press("Escape")
        aiko.page.keyboard.press("m")  # transfer
        aiko.page.locator("#transfer-to").select_option("ben")
        aiko.page.locator("#transfer-dialog button[value=ok]").click()
        expect(aiko.page.locator("#thread-state")).to_have_text("Assigned to ben")
        expect(ben.page.locator("#reply")).to_be_enabled()
        expect(ben.page.locator('[data-count="mine"]')).to_have_text("1")
        expect(ben.page.locator("#transcript")).to_contain_text(
            "Transferred from aiko to ben by aiko"
        )
        ben.screenshot("inbox-transferred")
        aiko.assert_clean()
        ben.assert_clean()
    finally:
        aiko.context.close()
        ben.context.close()


def test_each_event_number_is_applied_once_even_out_of_order(live, tab):
    """The socket client's bookkeeping (static/inbox/socket.js), run in the browser."""
    tab.page.goto(live.url + "/accounts/login/")
    result = tab.page.evaluate(
        """async () => {
            const { SeqTracker } = await import("/static/inbox/socket.js");
            const t = new SeqTracker();
            t.start(10);
            const seen = [11, 13, 11, 12, 13, 9, 14].map((n) => t.accept(n));
            const afterAll = t.resumeAfter();
            t.accept(17);  // 15 and 16 not seen yet: resume from before them
            return { seen, afterAll, afterGap: t.resumeAfter() };
        }"""
    )
    assert result == {
        "seen": [True, True, False, True, False, False, True],
        "afterAll": 14,
        "afterGap": 14,
    }


def test_japanese_browsers_get_the_inbox_in_japanese(live, agents_group, chromium):
    make_agent("daiki")
    tab = Tab(chromium, locale="ja-JP")
    try:
        page = tab.page
        page.goto(live.url + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("受信箱にサインイン")
        page.get_by_label("ユーザー名").fill("daiki")
        page.get_by_label("パスワード").fill(PASSWORD)
        page.get_by_role("button", name="サインイン").click()
        expect(page.locator("#app")).to_have_attribute("data-connection", "online")
        expect(page.locator('[data-queue="waiting"]')).to_contain_text("待機中")
        # The script's strings come from the JavaScript catalog.
        assert page.evaluate("() => gettext('Claimed by %(who)s')") == "%(who)s が担当しました"
        tab.screenshot("inbox-japanese")
        tab.assert_clean()
    finally:
        tab.context.close()


def test_a_deactivated_agents_page_says_signed_out_and_stops_reconnecting(live, agents_group, tab):
    from django.contrib.auth import get_user_model

    make_agent("fumi")
    sign_in(tab, live.url, "fumi")
    page = tab.page
    # The lists loaded: an API call still in flight would meet the revocation first
    # and send the page to the login form (also right, but not what is tested here).
    page.wait_for_load_state("networkidle")
    opened = len(tab.sockets)

    fumi = get_user_model().objects.get(username="fumi")
    fumi.is_active = False
    fumi.save()

    expect(page.locator("#app")).to_have_attribute("data-connection", "signed-out")
    expect(page.locator("#connection-text")).to_contain_text("You were signed out")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.locator("#reconnect-now")).to_be_hidden()
    tab.screenshot("inbox-signed-out")
    # Going back online or a while passing must not start a reconnect loop.
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(1500)  # longer than the first reconnect delay would be
    assert len(tab.sockets) == opened
    assert tab.errors == []


def test_non_agents_get_a_403_page_and_anonymous_users_the_login_page(live, agents_group):
    from django.contrib.auth import get_user_model

    anonymous = requests.get(live.url + "/", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/accounts/login/?next=/"

    get_user_model().objects.create_user("visitor", password=PASSWORD)
    page = login(live.url, "visitor").get(live.url + "/", timeout=10)
    assert page.status_code == 403
    assert "This inbox is for agents" in page.text

    static = requests.get(live.url + "/static/inbox/inbox.js", timeout=10)
    assert static.status_code == 200
    assert "javascript" in static.headers["Content-Type"]


def test_agents_log_in_to_the_inbox(live, agents_group):
    make_agent("emi")
    session = login(live.url, "emi")
    inbox = session.get(live.url + "/", timeout=10)
    assert inbox.status_code == 200
    assert 'id="conversation-list"' in inbox.text
    catalog = session.get(live.url + "/jsi18n/", timeout=10)
    assert catalog.status_code == 200
    assert "gettext" in catalog.text
