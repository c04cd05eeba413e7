"""Driving the inbox websocket through the real ASGI application in a test's own
event loop: agents' session cookies, opening a socket, reading its frames, and
events published from the test's thread as a service would."""

import functools
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client

from handoff.asgi import application
from handoff.live.events import latest_seq, publish

# Generous: a wait that only ends early, never a bound. On a busy machine with PostgreSQL
# and Redis, a disconnect (presence rows, then the offline event) once took over 5 s, and
# once over 20 s: the test client then cancels the consumer's disconnect half-way, so the
# offline event it was about to publish never comes.
TIMEOUT = 60
HOST = b"testserver"
ORIGIN = b"http://" + HOST


def in_event_loop(test):
    """Run an async test in its own loop; the test's thread serves the database calls,
    as the web server's threads do."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return async_to_sync(test)(*args, **kwargs)

    return run


def make_user(username: str, *, agent: bool = True):
    user = get_user_model().objects.create_user(username, password="agent-password-1")
    if agent:
        user.groups.add(Group.objects.get(name="Agents"))
    return user


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def inbox(
    cookie: bytes | None = None,
    *,
    after=None,
    viewing=None,
    pack=None,
    counts=None,
    listing=None,
    origin: bytes = ORIGIN,
    host: bytes = HOST,
):
    query = {
        name: value
        for name, value in (
            ("after", after),
            ("viewing", viewing),
            ("pack", pack),
            ("counts", counts),
            ("listing", listing),
        )
        if value is not None
    }
    path = "/ws/inbox/" + (f"?{urlencode(query)}" if query else "")
    headers = [(b"origin", origin), (b"host", host)] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, path, headers=headers)


async def open_inbox(
    cookie: bytes, *, after=None, viewing=None, pack=None, counts=None, listing=None
) -> tuple[WebsocketCommunicator, dict]:
    socket = inbox(cookie, after=after, viewing=viewing, pack=pack, counts=counts, listing=listing)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    hello = await receive(socket)
    assert hello["type"] == "hello"
    return socket, hello


async def receive(socket: WebsocketCommunicator) -> dict:
    return await socket.receive_json_from(timeout=TIMEOUT)


async def receive_until_caught_up(socket: WebsocketCommunicator) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] != "caught_up":
        frames.append(await receive(socket))
    return frames


async def assert_silent(socket: WebsocketCommunicator) -> None:
    assert await socket.receive_nothing(timeout=0.3)


def _publish_updates(count: int = 1) -> list[int]:
    """`count` conversation updates, each committed on its own; their numbers."""
    seqs = []
    for n in range(count):
        with transaction.atomic():
            published = publish(
                "conversation.updated",
                {"conversation": {"id": n + 1}, "event": None},
                conversation_id=n + 1,
            )
        seqs.append(published["seq"])  # numbered as the transaction committed
    return seqs


publish_updates = database_sync_to_async(_publish_updates)
current_seq = database_sync_to_async(latest_seq)
