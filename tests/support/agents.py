"""Making agents, logging one in over real HTTP and opening the inbox websocket."""

import json
import time
from urllib.parse import urlencode

import requests
import websockets.sync.client as ws_client


def make_agent(username: str, password: str = "agent-password-1") -> None:
    # Imported here: `login` also serves processes without Django settings (make bench).
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username, password=password)
    user.groups.add(Group.objects.get(name="Agents"))


def agent_at_desk(username: str, *, capacity: int, status: str = "available", online=True):
    """An agent with their seat's capacity and status and, when `online`, a fresh
    inbox socket: what the assigner counts as at their desk."""
    from django.contrib.auth import get_user_model

    from handoff.models import AgentPresence
    from handoff.services import seats

    make_agent(username)
    user = get_user_model().objects.get(username=username)
    seats.set_capacity(agent_id=user.pk, capacity=capacity)
    seats.set_status(agent=user, status=status)
    if online:
        AgentPresence.objects.create(agent=user, channel_name=f"test!{username}")
    return user


def login(base_url: str, username: str, password: str = "agent-password-1") -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/", timeout=10)
    page.raise_for_status()
    response = session.post(
        f"{base_url}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return session


def open_inbox(
    base_url: str,
    session: requests.Session | None,
    origin: str | None = None,
    after=None,
    pack=None,
    counts=None,
    listing=None,
):
    """The agent's inbox socket; with `after`, asking to catch up from that number;
    with `pack`, for packed frames; with `counts`, for the tabs' counts; with
    `listing`, showing that list (docs/websocket.md)."""
    headers = {}
    if session is not None:
        headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    asked = {
        name: value
        for name, value in (
            ("after", after),
            ("pack", pack),
            ("counts", counts),
            ("listing", listing),
        )
        if value is not None
    }
    query = f"?{urlencode(asked)}" if asked else ""
    return ws_client.connect(
        base_url.replace("http://", "ws://") + "/ws/inbox/" + query,
        additional_headers=headers,
        origin=origin or base_url,
        open_timeout=5,
    )


def receive_until(socket, predicate, timeout: float = 5.0) -> dict:
    """Read events until one satisfies predicate; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            event = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        except TimeoutError:
            break
        seen.append(event)
        if predicate(event):
            return event
    raise AssertionError(
        f"no matching event within {timeout} s; saw {[e.get('type') for e in seen]}"
    )
