"""Accessibility: axe-core finds nothing serious or critical on the pages agents use, in
English and in Japanese, as Chromium shows them under the app's own security policy.

Each page is checked in the states that show what an agent works with: the inbox with
conversations in the list and one open, before and after claiming it and sending a
reply, the contact card shown; the login page before and after a wrong password.
`color-contrast` and `page-has-heading-one` (the inbox's two findings in issue 16) fail
whatever axe rates them. How axe is loaded and why: tests/support/a11y.py.
"""

import re

import pytest
from playwright.sync_api import expect

from handoff.models import EscalationRule
from tests.support import a11y
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import PASSWORD, Tab, chromium  # noqa: F401 - fixtures

pytestmark = pytest.mark.server

ALWAYS_CHECKED = ("color-contrast", "page-has-heading-one")
LANGUAGES = {"en-US": "en", "ja-JP": "ja"}


@pytest.fixture(params=sorted(LANGUAGES))
def localized_tab(chromium, request):  # noqa: F811 - the fixture imported above
    """A fresh page whose browser asks for the parameter's language; checked for script
    and console errors at the end, its evidence kept if the test failed."""
    opened = Tab(chromium, locale=request.param)
    yield opened
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        opened.keep_evidence(f"failed-{request.node.name}")
    opened.context.close()
    opened.assert_clean()


def page_language(tab: Tab) -> str:
    return tab.page.evaluate("() => document.documentElement.lang")


def expected_language(tab: Tab) -> str:
    """The page's language for the language the browser asks for."""
    return LANGUAGES[tab.page.evaluate("() => navigator.language")]


def sign_in(tab: Tab, base_url: str, username: str) -> None:
    """Sign in by the form's field ids, so the steps hold in any language."""
    page = tab.page
    page.goto(base_url + "/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(base_url + "/")
    expect(page.locator("#app")).to_have_attribute("data-connection", "online")


def test_the_inbox_with_a_conversation_open_has_no_serious_accessibility_violation(
    live, agents_group, localized_tab
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    live.post_webhook(webhook_body("u-a11y-1", "I want to talk to an agent", name="Sato"))
    live.post_webhook(webhook_body("u-a11y-2", "agent please", name="Kato"))
    tab = localized_tab
    sign_in(tab, live.url, "aiko")
    page = tab.page
    assert page_language(tab) == expected_language(tab)

    expect(page.locator("#conversation-list .row")).to_have_count(2, timeout=10_000)
    page.locator("#conversation-list .row", has_text="Sato").click()
    expect(page.locator("#reason-chip")).to_be_visible()
    expect(page.locator("#transcript")).to_contain_text("I want to talk to an agent")
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)  # waiting: the claim button shown

    page.locator('[data-action="claim"]').click()
    expect(page.locator("#thread-state")).to_contain_text("aiko")
    page.locator("#reply").fill("Hello Sato, this is Aiko.")
    page.locator("#reply").press("Enter")
    sent = page.locator(".msg-agent", has_text="this is Aiko")
    expect(sent.locator(".delivery-state")).to_have_attribute("data-state", "sent", timeout=15_000)
    # Every conversation in the list, the open one selected among them.
    page.keyboard.press("Escape")
    page.keyboard.press("5")
    expect(page.locator("#conversation-list .row")).to_have_count(2)
    expect(page.locator("#conversation-list .row.selected")).to_contain_text("Sato")
    expect(page.locator("#contact-pane")).to_be_visible()

    a11y.assert_accessible(page, also=ALWAYS_CHECKED)
    tab.screenshot(f"a11y-inbox-{page_language(tab)}")


def test_the_login_page_has_no_serious_accessibility_violation(live, localized_tab):
    tab = localized_tab
    page = tab.page
    page.goto(live.url + "/accounts/login/")
    assert page_language(tab) == expected_language(tab)
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)

    page.locator("#id_username").fill("nobody")
    page.locator("#id_password").fill("not-the-password")
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator(".form-error")).to_be_visible()
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)


def test_axe_runs_inside_the_page_under_the_policy_it_ships_with(live, chromium):  # noqa: F811
    """The check sees the page agents get: the app's script policy stays on (an inline
    script tag is refused), and the axe in the page is the version the lock pins."""
    tab = Tab(chromium)
    try:
        page = tab.page
        response = page.goto(live.url + "/accounts/login/")
        policy = response.headers["content-security-policy"]
        assert re.search(r"script-src 'self'(;|$)", policy), policy
        with pytest.raises(Exception, match="Content Security Policy|CSP"):
            page.add_script_tag(content="window.inlineRan = true")
        tab.allow_console_errors("Content Security Policy")

        assert a11y.inject(page) == a11y.pinned_version()
        assert page.evaluate("() => window.inlineRan") is None
        passed = page.evaluate("() => axe.run(document).then((r) => r.passes.length)")
        assert passed > 0, "axe checked nothing in the page"
        tab.assert_clean()
    finally:
        tab.context.close()


def test_the_supervisor_view_with_a_queue_and_agents_has_no_serious_accessibility_violation(
    live, agents_group, localized_tab
):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    lead = get_user_model().objects.create_user("lead", password=PASSWORD)
    lead.user_permissions.add(Permission.objects.get(codename="supervise"))
    live.post_webhook(webhook_body("u-a11y-3", "agent please", name="Sato"))
    tab = localized_tab
    page = tab.page
    page.goto(live.url + "/supervisor/")
    page.locator("#id_username").fill("lead")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(live.url + "/supervisor/")
    expect(page.locator("#desk")).to_have_attribute("data-connection", "online")
    assert page_language(tab) == expected_language(tab)
    expect(page.locator("#queues tbody tr")).to_have_count(1, timeout=10_000)
    expect(page.locator('#agents tr[data-agent="aiko"]')).to_be_visible()
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)
