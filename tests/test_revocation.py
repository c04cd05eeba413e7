"""A revoked agent loses the live feed at once (services/revocation.py, docs/websocket.md).

First which changes write an `access.changed` event (in-process, fast); then, against
the app under daphne with a real websocket client, each kind of revocation made from
another process (this test process, `manage.py shell`, `createagent`) or from the
admin inside the server's own process: the agent's open socket is closed with 4410
and sends nothing committed after the change.
"""

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from websockets.exceptions import ConnectionClosed

from handoff.live.events import latest_seq
from handoff.models import AgentPresence, InboxEvent
from handoff.services import revocation
from tests.support.agents import login, make_agent, open_inbox
from tests.support.factories import webhook_body
from tests.support.servers import ROOT

CLOSE_SIGNED_OUT = 4410
User = get_user_model()


def access_events(after: int) -> list[dict]:
    rows = InboxEvent.objects.filter(pk__gt=after, kind=revocation.ACCESS_CHANGED)
    return [row.payload for row in rows.order_by("pk")]


@pytest.fixture
def aiko(agents_group):
    make_agent("aiko")
    return User.objects.get(username="aiko")


def answer_permission() -> Permission:
    return Permission.objects.get(codename="answer_conversations")


# Which changes announce themselves (in-process)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: User.objects.get(pk=user.pk).groups.clear(), id="groups-cleared"),
        pytest.param(
            lambda user: Group.objects.get(name="Agents").user_set.remove(user),
            id="removed-from-the-group's-side",
        ),
        pytest.param(
            lambda user: Group.objects.get(name="Agents").user_set.clear(), id="group-emptied"
        ),
        pytest.param(
            lambda user: Group.objects.get(name="Agents").permissions.remove(answer_permission()),
            id="group-loses-the-permission",
        ),
        pytest.param(
            lambda user: answer_permission().group_set.clear(),
            id="permission-taken-from-every-group",
        ),
        pytest.param(lambda user: Group.objects.get(name="Agents").delete(), id="group-deleted"),
        pytest.param(lambda user: answer_permission().delete(), id="permission-deleted"),
        pytest.param(
            lambda user: User.objects.filter(pk=user.pk).delete(),
            id="deleted-by-the-admin's-bulk-action",
        ),
    ],
)
def test_every_way_of_losing_the_permission_writes_an_access_change_for_the_agent(aiko, change):
    before = latest_seq()

    change(aiko)

    assert {"agent_ids": [aiko.pk]} in access_events(before)


@pytest.mark.django_db(transaction=True)
def test_losing_a_permission_held_directly_writes_an_access_change(agents_group):
    user = User.objects.create_user("direct", password="agent-password-1")
    user.user_permissions.add(answer_permission())
    before = latest_seq()

    user.user_permissions.remove(answer_permission())

    assert access_events(before) == [{"agent_ids": [user.pk]}]


@pytest.mark.django_db(transaction=True)
def test_a_save_outside_a_transaction_announces_the_change_before_and_after_it(aiko):
    before = latest_seq()

    aiko.is_active = False
    aiko.save()

    assert access_events(before) == [
        {"agent_ids": [aiko.pk], "pending": True},
        {"agent_ids": [aiko.pk]},
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: setattr(user, "is_active", False), id="deactivated"),
        pytest.param(lambda user: user.set_password("another-password-9"), id="password"),
        pytest.param(lambda user: setattr(user, "is_superuser", False), id="superuser-demoted"),
    ],
)
def test_a_save_inside_a_transaction_writes_one_access_change_with_it(aiko, change):
    User.objects.filter(pk=aiko.pk).update(is_superuser=True)
    aiko.refresh_from_db()
    before = latest_seq()

    with transaction.atomic():
        change(aiko)
        aiko.save()

    assert access_events(before) == [{"agent_ids": [aiko.pk]}]


@pytest.mark.django_db(transaction=True)
def test_changes_that_cannot_end_access_write_nothing(aiko, agents_group):
    before = latest_seq()

    aiko.first_name = "Aiko"
    aiko.save()
    aiko.save(update_fields=["last_login"])  # what every login does
    aiko.groups.add(agents_group)
    make_agent("newcomer")

    assert access_events(before) == []


@pytest.mark.django_db(transaction=True)
def test_a_deleted_agent_with_an_open_socket_is_announced_offline(aiko):
    AgentPresence.objects.create(agent=aiko, channel_name="c1")
    before, agent_id = latest_seq(), aiko.pk

    aiko.delete()

    kinds = [
        (row.kind, row.payload) for row in InboxEvent.objects.filter(pk__gt=before).order_by("pk")
    ]
    assert kinds == [
        ("access.changed", {"agent_ids": [agent_id]}),
        (
            "presence",
            {"agent": "aiko", "online": False, "status": "offline", "capacity": 5, "open_count": 0},
        ),
    ]


# Against the running server


def _deactivate(user, live):
    user.is_active = False
    user.save()


def _remove_from_agents(user, live):
    user.groups.remove(Group.objects.get(name="Agents"))


def _agents_lose_the_permission(user, live):
    Group.objects.get(name="Agents").permissions.remove(answer_permission())


def _password_changed_in_a_shell(user, live):
    code = (
        "from django.contrib.auth import get_user_model; "
        f"u = get_user_model().objects.get(pk={user.pk}); "
        "u.set_password('Another-Password-92'); u.save()"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=live.env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _password_reset_by_createagent(user, live):
    call_command("createagent", user.username, "--password", "Another-Password-92", "--no-input")


def _deleted(user, live):
    user.delete()


def _deleted_in_the_admin(user, live):
    """The admin's delete confirmation, served by another web process (this one)."""
    # The flush between tests gives content types new ids; the admin's log needs
    # the current one.
    ContentType.objects.clear_cache()
    root = User.objects.create_superuser("root", password="root-password-1")
    admin = Client()
    admin.force_login(root)
    response = admin.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.status_code


REVOCATIONS = [
    pytest.param(_deactivate, id="deactivated"),
    pytest.param(_remove_from_agents, id="removed-from-agents"),
    pytest.param(_agents_lose_the_permission, id="agents-group-loses-permission"),
    pytest.param(_password_changed_in_a_shell, id="password-changed-in-shell"),
    pytest.param(_password_reset_by_createagent, id="password-set-by-createagent"),
    pytest.param(_deleted, id="deleted"),
    pytest.param(_deleted_in_the_admin, id="deleted-in-admin"),
]


def frames_until_closed(socket, timeout: float = 10.0) -> tuple[list[dict], int | None]:
    """Every frame the socket sends until it closes; the close code (None: still open)."""
    frames = []
    try:
        while True:
            frames.append(json.loads(socket.recv(timeout=timeout)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return frames, None


@pytest.mark.parametrize("revoke", REVOCATIONS)
def test_a_revoked_agents_socket_is_closed_and_sent_nothing_committed_after_the_change(
    live, aiko, revoke
):
    session = login(live.url, "aiko")
    with open_inbox(live.url, session) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"

        revoke(aiko, live)
        changed = latest_seq()
        # Customers go on writing: each message is an event for every agent's socket.
        live.post_webhook(webhook_body("u-after", "written after the change"))

        frames, code = frames_until_closed(socket)

    assert code == CLOSE_SIGNED_OUT
    # Only events committed before the change (the `pending` notice of a save made
    # outside a transaction is one) may still arrive; nothing numbered after it.
    assert [f for f in frames if f.get("seq", 0) > changed or "seq" not in f] == []
    assert latest_seq() > changed  # the customer's message did become events
    # The HTTP side refuses the session too: the socket agrees with it.
    assert session.get(f"{live.url}/api/conversations/", timeout=10).status_code in (401, 403)


def test_an_agent_who_keeps_access_keeps_the_feed_when_another_is_revoked(live, aiko):
    make_agent("ben")
    with (
        open_inbox(live.url, login(live.url, "aiko")) as aiko_socket,
        open_inbox(live.url, login(live.url, "ben")) as ben_socket,
    ):
        json.loads(aiko_socket.recv(timeout=5))
        json.loads(ben_socket.recv(timeout=5))

        _remove_from_agents(User.objects.get(username="ben"), live)
        live.post_webhook(webhook_body("u-stays", "still here"))

        _, code = frames_until_closed(ben_socket)
        assert code == CLOSE_SIGNED_OUT
        seen = []
        while not any(f.get("type") == "message.created" for f in seen):
            seen.append(json.loads(aiko_socket.recv(timeout=10)))
    assert "still here" in [f["message"]["text"] for f in seen if f["type"] == "message.created"]


@pytest.mark.parametrize("revoke", REVOCATIONS)
def test_a_revoked_agents_socket_is_closed_even_when_no_other_event_follows(
    live, aiko, revoke, report
):
    with open_inbox(live.url, login(live.url, "aiko")) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"

        revoke(aiko, live)
        changed_at = time.monotonic()

        # This client never pings (the page pings every 25 s): the close comes from the
        # access change itself, pushed or (in-memory layer, another process) read from
        # the feed by the server's once-a-second watch.
        _, code = frames_until_closed(socket, timeout=10)
        closed_in = time.monotonic() - changed_at  # measured, not asserted
    assert code == CLOSE_SIGNED_OUT
    layer = (
        "redis"
        if settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")
        else "in-memory"
    )
    report(
        f"revocation: {revoke.__name__} closed the socket in {closed_in * 1000:.0f} ms ({layer})"
    )
