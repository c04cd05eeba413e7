"""A list page the server read before a live event must not undo that event, in
Chromium against the app under daphne. The Waiting list's request is held (Playwright
answers it with what the server said before the change) while a colleague releases
a chat to the queue; the release's event places the row, then the older page arrives:
the row stays. (Issue 13's CI loop once saw "Waiting 1" over an empty list this way.)"""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from handoff.models import Conversation
from tests.support.agents import login, make_agent
from tests.support.factories import make_conversation
from tests.test_browser import chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def test_a_page_read_before_a_release_does_not_drop_the_released_row(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    make_agent("aiko")
    make_agent("ben")
    ben = get_user_model().objects.get(username="ben")
    chat = make_conversation(state=Conversation.State.ASSIGNED, assignee=ben)
    chat.contact.name = "Sato"
    chat.contact.save()
    page = tab.page
    sign_in(tab, live.url, "aiko")
    rows = page.locator("#conversation-list .row")
    expect(rows).to_have_count(0)

    held = []
    page.route("**/api/conversations/?queue=waiting*", lambda route: held.append(route))
    page.locator('button.queue[data-queue="mine"]').click()
    page.locator('button.queue[data-queue="waiting"]').click()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1, "the Waiting list's request was not made"
    stale = held[0].fetch()  # what the server says now: nothing waits

    session = login(live.url, "ben")
    released = session.post(
        f"{live.url}/api/conversations/{chat.pk}/release/",
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{live.url}/"},
        timeout=10,
    )
    assert released.status_code == 200, released.text
    expect(rows).to_have_count(1, timeout=10_000)  # placed by the release's event

    with page.expect_response(lambda response: "queue=waiting" in response.url):
        held[0].fulfill(response=stale)
    page.wait_for_timeout(300)  # let the page apply the answer
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sato")
