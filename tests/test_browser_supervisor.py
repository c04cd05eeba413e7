"""The live supervisor view (issue 16) in Chromium against the app under daphne, and
the watching socket it stands on: a supervisor sees the waiting count, the longest
wait and an agent's load change as a hand-over arrives and is assigned, and who is
typing where, without reloading; a watcher is never online, sends no activity, and
loses the socket with the permission."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from handoff.models import AgentPresence, EscalationRule, HandoffSettings
from handoff.services import seats
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import webhook_body
from tests.test_browser import Tab, chromium, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server

LEAD_PASSWORD = "lead-password-1"


def make_supervisor(username: str = "lead"):
    user = get_user_model().objects.create_user(username, password=LEAD_PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    return user


def sign_in_supervisor(tab: Tab, base_url: str, username: str = "lead") -> None:  # noqa: F811
    page = tab.page
    page.goto(base_url + "/supervisor/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/supervisor/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(LEAD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base_url + "/supervisor/")
    expect(page.locator("#desk")).to_have_attribute("data-connection", "online")


def test_a_supervisor_watches_a_hand_over_wait_and_be_assigned_live(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    settings_row = HandoffSettings.load()
    settings_row.auto_assign = True
    settings_row.save()
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    seats.set_capacity(agent_id=aiko.pk, capacity=3)
    seats.set_status(agent=aiko, status="away")
    make_supervisor()
    aiko_session = login(live.url, "aiko")
    with open_inbox(live.url, aiko_session) as aiko_socket:
        assert json.loads(aiko_socket.recv(timeout=10))["type"] == "hello"
        sign_in_supervisor(tab, live.url)
        page = tab.page
        aikos_row = page.locator('#agents tr[data-agent="aiko"]')
        expect(aikos_row.locator(".status")).to_have_text("Away")
        expect(aikos_row.locator(".load")).to_have_text("0 / 3")
        expect(page.locator("#queues-empty")).to_be_visible()

        # A hand-over while aiko is away: it waits, and the wait is counted.
        live.post_webhook(webhook_body("u-sup", "agent please", name="Sato"))
        queue = page.locator("#queues tbody tr").first
        expect(queue.locator(".waiting")).to_have_text("1", timeout=10_000)
        expect(queue.locator(".longest")).to_have_text(re.compile(r"^\d+:\d\d$"))
        expect(queue.locator(".assigned")).to_have_text("0")
        tab.screenshot("supervisor-waiting")

        # aiko becomes available: handoff assigns it, and the view follows.
        answer = aiko_session.post(
            f"{live.url}/api/me/status/",
            json={"status": "available"},
            headers={"X-CSRFToken": aiko_session.cookies["csrftoken"], "Referer": live.url},
            timeout=10,
        )
        assert answer.status_code == 200
        expect(queue.locator(".waiting")).to_have_text("0", timeout=10_000)
        expect(queue.locator(".assigned")).to_have_text("1")
        expect(queue.locator(".longest")).to_have_text("—")
        expect(aikos_row.locator(".status")).to_have_text("Available")
        expect(aikos_row.locator(".load")).to_have_text("1 / 3")

        # aiko types in it: the supervisor sees where.
        assigned = receive_until(
            aiko_socket,
            lambda e: (e.get("event") or {}).get("kind") == "assigned",
            timeout=10,
        )
        conversation_id = assigned["conversation"]["id"]
        aiko_socket.send(json.dumps({"type": "typing", "conversation_id": conversation_id}))
        expect(aikos_row.locator(".typing-in")).to_have_text(f"#{conversation_id} Sato")
        tab.screenshot("supervisor-assigned")
        tab.assert_clean()


def test_a_watching_socket_is_never_online_sends_no_activity_and_closes_with_the_permission(
    live, agents_group
):
    lead = make_supervisor()
    session = login(live.url, "lead", LEAD_PASSWORD)
    with open_inbox(live.url, session) as socket:
        hello = json.loads(socket.recv(timeout=10))
        assert hello["type"] == "hello"
        assert "lead" not in hello["online"]
        assert not AgentPresence.objects.filter(agent=lead).exists()
        socket.send(json.dumps({"type": "viewing", "conversation_id": None}))
        error = receive_until(socket, lambda frame: frame["type"] == "error")
        assert "watching socket" in error["error"]
        socket.send(json.dumps({"type": "ping"}))
        receive_until(socket, lambda frame: frame["type"] == "pong")

        lead.user_permissions.remove(Permission.objects.get(codename="supervise"))
        with pytest.raises(Exception) as closed:  # noqa: PT011 - the library's close error
            receive_until(socket, lambda frame: False, timeout=10)
        assert getattr(closed.value, "rcvd", None) is not None
        assert closed.value.rcvd.code == 4410


@pytest.mark.parametrize(("who", "status"), [("lead", 200), ("aiko", 403), (None, 401)])
def test_only_staff_and_supervisors_get_the_desk_snapshot(live, agents_group, who, status):
    make_supervisor()
    make_agent("aiko")
    if who is None:
        import requests

        answer = requests.get(f"{live.url}/api/supervisor/", timeout=10)
    else:
        password = LEAD_PASSWORD if who == "lead" else "agent-password-1"
        answer = login(live.url, who, password).get(f"{live.url}/api/supervisor/", timeout=10)
    assert answer.status_code == status
    if status == 200:
        body = answer.json()
        assert {"seq", "now", "conversations", "bot", "agents"} <= set(body)
        assert [agent["agent"] for agent in body["agents"]] == ["aiko"]
