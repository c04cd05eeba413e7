"""Private notes in the inbox, in a real browser (Debian's Chromium through Playwright)
against the app under daphne and the stand-in Braze: one agent writes a note that
mentions another, whose inbox shows it and tells them; the customer gets nothing."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import Contact, Conversation, Message, Note
from tests import test_browser
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.test_browser import Tab, sign_in

pytestmark = pytest.mark.server

chromium = test_browser.chromium
tab = test_browser.tab

RECORD_NOTIFICATIONS = (
    "window.__notes = [];"
    "window.Notification = class { constructor(title, options) {"
    " window.__notes.push(title + ' / ' + options.body); }"
    " static get permission() { return 'granted'; }"
    " static requestPermission() { return Promise.resolve('granted'); } };"
)
NOTE = "@ben can you check the refund? <b>not bold</b> @nobody"


def sato_with_aiko() -> Conversation:
    aiko = get_user_model().objects.get(username="aiko")
    conversation = make_conversation(
        external_id="note-browser", state=Conversation.State.ASSIGNED, assignee=aiko
    )
    Contact.objects.filter(pk=conversation.contact_id).update(name="Sato")
    Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text="Where is my refund?",
        routing_state=Message.Routing.DONE,
        created_at=timezone.now(),
    )
    return conversation


def test_aiko_notes_and_mentions_ben_whose_inbox_shows_it_and_braze_gets_nothing(
    live, agents_group, session_braze, chromium, tab
):
    make_agent("aiko")
    make_agent("ben")
    conversation = sato_with_aiko()
    ben = Tab(chromium)
    try:
        ben.page.add_init_script(RECORD_NOTIFICATIONS)
        sign_in(ben, live.url, "ben")
        ben.page.keyboard.press("5")  # All: the row Ben will see marked
        ben_row = ben.page.locator("#conversation-list .row", has_text="Sato")
        expect(ben_row).to_be_visible()

        sign_in(tab, live.url, "aiko")
        page = tab.page
        page.keyboard.press("2")  # Mine
        page.locator("#conversation-list .row", has_text="Sato").click()
        expect(page.locator("#transcript")).to_contain_text("Where is my refund?")

        # "n" turns the composer into a private note, drawn unlike a reply.
        page.keyboard.press("n")
        expect(page.locator("#composer")).to_have_class(re.compile(r"\bnote-mode\b"))
        expect(page.locator('#compose-modes [data-mode="note"]')).to_have_attribute(
            "aria-selected", "true"
        )
        expect(page.locator("#send")).to_have_text("Add note")
        expect(page.locator("#send-campaign")).to_be_hidden()
        expect(page.locator("#reply")).to_be_focused()
        page.locator("#reply").fill(NOTE)
        page.locator("#reply").press("Enter")

        mine = page.locator(".note", has_text="can you check the refund")
        expect(mine).to_be_visible()
        expect(mine).to_contain_text("Private note · only agents see this")
        expect(mine.locator(".mention")).to_have_text(["@ben"])  # not @nobody: no such agent
        expect(page.locator("#reply")).to_have_value("")
        expect(page.locator(".toast-warning")).to_contain_text("nobody was notified for @nobody")

        # Ben's inbox: told at once, the row marked until he opens it.
        ben.page.wait_for_function("() => window.__notes.length > 0")
        assert ben.page.evaluate("() => window.__notes") == [
            f"aiko mentioned you in a note / {NOTE}"
        ]
        expect(ben_row.locator(".mention-chip")).to_have_text("@ben mentioned")
        ben_row.click()
        theirs = ben.page.locator(".note", has_text="can you check the refund")
        expect(theirs).to_contain_text("aiko")
        expect(theirs).to_contain_text("Private note · only agents see this")
        expect(theirs.locator(".mention-me")).to_have_text("@ben")
        # Agent text is text: the tags show as written and make no element.
        expect(theirs.locator(".msg-text")).to_have_text(NOTE)
        assert theirs.locator("b").count() == 0
        expect(ben.page.locator(".mention-chip")).to_have_count(0)
        ben.screenshot("inbox-note-mentions-ben")

        # A reply after it reaches Braze; the note before it never did.
        page.keyboard.press("Escape")
        page.keyboard.press("r")
        expect(page.locator("#composer")).not_to_have_class(re.compile(r"\bnote-mode\b"))
        page.locator("#reply").fill("Your refund is on its way.")
        page.locator("#reply").press("Enter")
        sent = page.locator(".msg-agent", has_text="Your refund is on its way.")
        expect(sent.locator(".delivery-state")).to_have_attribute(
            "data-state", "sent", timeout=15_000
        )
        texts = [
            m["trigger_properties"]["external_system_msg_body"]
            for m in session_braze.sent_messages()
        ]
        assert texts == ["Your refund is on its way."]
        assert "check the refund" not in json.dumps([r["body"] for r in session_braze.requests()])
        note = Note.objects.get()
        assert (note.conversation_id, note.text) == (conversation.pk, NOTE)
        assert not Message.objects.filter(text=NOTE).exists()
        tab.screenshot("inbox-note-and-reply")
        ben.assert_clean()
    except BaseException:
        ben.keep_evidence("failed-notes-ben")
        raise
    finally:
        ben.context.close()
