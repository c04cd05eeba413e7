"""Password guessing is slowed: django-axes locks a username out from an address after
HANDOFF_LOGIN_FAILURE_LIMIT failures, on the inbox's and the admin's sign-in alike, until
the cool-off passes or an admin unlocks it; failures are logged without the password;
`createagent` applies the password validators.
"""

import subprocess
import sys
from base64 import b64encode

import pytest
import requests
import websockets.sync.client as ws_client
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from websockets.exceptions import ConnectionClosed

from handoff.management.commands.seed_demo import DEMO_ADMIN, DEMO_AGENTS
from handoff.web.pages.lockout import LOCKED_OUT_STATUS
from tests.conftest import ARTIFACTS
from tests.support.agents import login, make_agent
from tests.support.servers import ROOT

PASSWORD = "agent-password-1"
LOCKED = "Too many failed sign-ins; try again in 15 minutes or ask an admin to unlock you."


def attempt(base_url: str, path: str, username: str, password: str) -> requests.Response:
    """One sign-in through the form at `path`, as a browser would post it."""
    session = requests.Session()
    session.get(base_url + path, timeout=10).raise_for_status()
    return session.post(
        base_url + path,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/",
        },
        headers={"Referer": base_url + path},
        timeout=10,
        allow_redirects=False,
    )


def server_output_since(offset: int) -> str:
    return (ARTIFACTS / "daphne.log").read_bytes()[offset:].decode(errors="replace")


def server_output_size() -> int:
    path = ARTIFACTS / "daphne.log"
    return path.stat().st_size if path.exists() else 0


# -- against the running server (the acceptance test) -------------------------------------


def test_twenty_wrong_passwords_lock_the_agent_out_until_an_admin_unlocks_them(
    live, agents_group, django_user_model
):
    make_agent("aiko")
    django_user_model.objects.create_superuser("root", "", "root-password-1")
    start = server_output_size()

    wrong = [attempt(live.url, "/accounts/login/", "aiko", f"guess-{n}") for n in range(20)]
    right = attempt(live.url, "/accounts/login/", "aiko", PASSWORD)
    right_in_admin = attempt(live.url, "/admin/login/", "aiko", PASSWORD)

    # The form again ("didn't match") nine times; the tenth failure locks.
    assert [r.status_code for r in wrong[:9]] == [200] * 9
    assert {r.status_code for r in wrong[9:]} == {LOCKED_OUT_STATUS}
    assert right.status_code == right_in_admin.status_code == LOCKED_OUT_STATUS
    assert LOCKED in right.text and 'id="id_username"' in right.text
    assert LOCKED in right_in_admin.text and 'id="login-form"' in right_in_admin.text
    # Failures are in the log with who and where, never the password tried.
    logged = server_output_since(start)
    assert "login failure" in logged and "aiko" in logged and "Locking out" in logged
    assert "guess-" not in logged and PASSWORD not in logged

    # The admin signs in from the same address (another username: not locked) and
    # deletes the access attempt in the admin's "Access attempts".
    admin = login(live.url, "root", "root-password-1")
    attempt_id = AccessAttempt.objects.get(username="aiko").pk
    changelist = live.url + "/admin/axes/accessattempt/"
    admin.get(changelist, timeout=10).raise_for_status()
    form = {
        "action": "delete_selected",
        "_selected_action": str(attempt_id),
        "csrfmiddlewaretoken": admin.cookies["csrftoken"],
    }
    confirm = admin.post(changelist, data=form, headers={"Referer": changelist}, timeout=10)
    assert confirm.status_code == 200 and "Are you sure" in confirm.text
    done = admin.post(
        changelist,
        data={**form, "post": "yes"},
        headers={"Referer": changelist},
        timeout=10,
        allow_redirects=False,
    )
    assert done.status_code == 302
    assert not AccessAttempt.objects.filter(username="aiko").exists()

    assert attempt(live.url, "/accounts/login/", "aiko", PASSWORD).status_code == 302


def test_a_staff_member_locked_out_in_the_admin_is_unlocked_by_the_command(live, django_user_model):
    django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)

    for n in range(20):
        attempt(live.url, "/admin/login/", "sam", f"guess-{n}")
    in_admin = attempt(live.url, "/admin/login/", "sam", PASSWORD)
    in_inbox = attempt(live.url, "/accounts/login/", "sam", PASSWORD)

    assert in_admin.status_code == in_inbox.status_code == LOCKED_OUT_STATUS
    assert LOCKED in in_admin.text and LOCKED in in_inbox.text

    unlock = subprocess.run(
        [sys.executable, "manage.py", "axes_reset_username", "sam"],
        cwd=ROOT,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unlock.returncode == 0, unlock.stderr
    assert attempt(live.url, "/admin/login/", "sam", PASSWORD).status_code == 302


def test_neither_the_api_nor_the_websocket_signs_in_a_locked_out_agent(live, agents_group):
    make_agent("ben")
    for n in range(10):
        attempt(live.url, "/accounts/login/", "ben", f"guess-{n}")
    assert attempt(live.url, "/accounts/login/", "ben", PASSWORD).status_code == 429

    # Only a session (from the sign-in form) opens the API and the socket: credentials
    # sent any other way are ignored, so there is nothing to guess through them.
    basic = requests.get(live.url + "/api/me/", auth=("ben", PASSWORD), timeout=10)
    assert basic.status_code == 401
    with (
        ws_client.connect(
            live.url.replace("http://", "ws://") + "/ws/inbox/",
            additional_headers={
                "Authorization": "Basic " + b64encode(b"ben:" + PASSWORD.encode()).decode()
            },
            origin=live.url,
            open_timeout=5,
        ) as socket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        socket.recv(timeout=5)
    assert closed.value.rcvd.code == 4401  # anonymous
    bearer = requests.get(
        live.url + "/api/me/", headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=10
    )
    assert bearer.status_code == 401


# -- in the test process: how the lockout is keyed -------------------------------------------


@pytest.fixture
def limit_three(settings):
    settings.AXES_FAILURE_LIMIT = 3


def _post_login(client, username: str, password: str, **meta):
    return client.post("/accounts/login/", {"username": username, "password": password}, **meta)


@pytest.mark.django_db
def test_lockout_is_per_username_and_address(client, limit_three, django_user_model):
    django_user_model.objects.create_user("aiko", password=PASSWORD)
    django_user_model.objects.create_user("ben", password=PASSWORD)
    for _ in range(3):
        _post_login(client, "aiko", "wrong", REMOTE_ADDR="10.0.0.1")

    assert _post_login(client, "aiko", PASSWORD, REMOTE_ADDR="10.0.0.1").status_code == 429
    # A colleague behind the same address, and aiko from elsewhere, still sign in.
    assert _post_login(client, "ben", PASSWORD, REMOTE_ADDR="10.0.0.1").status_code == 302
    client.logout()
    assert _post_login(client, "aiko", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 302


@pytest.mark.django_db
def test_x_forwarded_for_counts_only_behind_a_proxy(
    client, limit_three, settings, django_user_model
):
    django_user_model.objects.create_user("aiko", password=PASSWORD)
    settings.HANDOFF_BEHIND_PROXY = False
    # Without a proxy the header is the client's own word: changing it does not help.
    for n in range(3):
        _post_login(client, "aiko", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    assert (
        _post_login(client, "aiko", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.99").status_code == 429
    )

    AccessAttempt.objects.all().delete()
    settings.HANDOFF_BEHIND_PROXY = True
    for _ in range(3):
        _post_login(client, "aiko", "wrong", HTTP_X_FORWARDED_FOR="spoofed, 10.1.1.1")
    assert _post_login(client, "aiko", PASSWORD, HTTP_X_FORWARDED_FOR="10.1.1.1").status_code == 429
    assert _post_login(client, "aiko", PASSWORD, HTTP_X_FORWARDED_FOR="10.2.2.2").status_code == 302


@pytest.mark.django_db
def test_a_success_before_the_limit_forgets_earlier_typos(client, limit_three, django_user_model):
    django_user_model.objects.create_user("aiko", password=PASSWORD)
    for _ in range(2):
        _post_login(client, "aiko", "typo")
    assert _post_login(client, "aiko", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        _post_login(client, "aiko", "typo")

    assert _post_login(client, "aiko", PASSWORD).status_code == 302


# -- createagent and the demo's passwords -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a", "too short"),
        ("password123", "too common"),
        ("4815162342", "entirely numeric"),
        ("takahashi1", "too similar to the username"),
    ],
)
def test_createagent_refuses_a_weak_password_with_the_validators_reason(
    agents_group, password, reason
):
    with pytest.raises(CommandError, match=reason):
        call_command("createagent", "takahashi", "--password", password)

    assert not get_user_model().objects.filter(username="takahashi").exists()


@pytest.mark.django_db
def test_createagent_leaves_an_existing_password_when_the_new_one_is_refused(agents_group):
    user = get_user_model().objects.create_user("ben", password="kept-password-1")

    with pytest.raises(CommandError, match="too short"):
        call_command("createagent", "ben", "--password", "a")

    user.refresh_from_db()
    assert user.check_password("kept-password-1")


@pytest.mark.django_db
def test_the_demo_logins_pass_the_password_validators():
    """`make run`'s documented logins (README) are set directly, but would pass anyway."""
    User = get_user_model()
    for username, password in [DEMO_ADMIN] + [(name, pw) for name, _first, pw in DEMO_AGENTS]:
        validate_password(password, User(username=username))
