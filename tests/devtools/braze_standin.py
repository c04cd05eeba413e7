"""A local stand-in for Braze's REST API, for the demo and the tests.

handoff answers customers through Braze's ``POST /campaigns/trigger/send`` and records
chat facts with ``POST /users/track``. The real Braze cannot be used from a laptop or a
CI runner: it would message real phones, it needs real credentials, and it cannot be
told to fail on demand. This stand-in serves those two endpoints on loopback, checks
requests against Braze's documented limits (docs/braze-whatsapp.md), records everything
it receives, and can be switched to answer 500, 429, 401, slowly or erratically, so that
handoff's retry and back-off paths run over a real socket.

Its page at ``/`` shows the replies as phone chats and has a customer simulator that
posts to handoff's webhook the way Braze's webhook campaign does. The page's HTML and
script live in ``braze_standin_page/``.

What it must never do:

* run in production or be reachable by anyone but the developer: it binds to loopback
  and its control endpoints have no authentication;
* decide anything about routing (bot or human, which campaign, whether to retry): it
  only answers as Braze would, so that every decision under test is handoff's own;
* print or record a secret: recorded Authorization headers are masked, and error
  messages never echo a key.

It uses the standard library only, and nothing of Django, so it runs without settings.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import math
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TRIGGER_SEND = "/campaigns/trigger/send"
USERS_TRACK = "/users/track"
INBOUND = "/_standin/inbound"
CONTROL_PREFIX = "/_standin/"
PAGE_SCRIPT = "/_standin/page.js"
# The page's HTML and script are files beside this module, not strings in it: a script
# in a Python string once shipped with a newline where "\n" was meant, and died unseen.
PAGE_DIRECTORY = Path(__file__).resolve().with_name("braze_standin_page")

UNKNOWN_CAMPAIGN = "Invalid Campaign ID"
MODES = ("ok", "error500", "rate_limit", "unauthorized", "slow", "fail_ratio")
BEHAVIOUR_KEYS = frozenset(
    {"mode", "count", "seconds", "reset_in", "delay", "ratio", "seed", "path"}
)
DEFAULT_RESET_IN = 2.0
DEFAULT_DELAY = 5.0
DEFAULT_RATIO = 0.5

RECIPIENT_LIMIT = 50
RECIPIENT_IDS = ("external_user_id", "user_alias", "email")
TRACK_KINDS = ("attributes", "events", "purchases")
TRACK_OBJECT_LIMIT = 75
TRACK_USER_IDS = ("external_id", "user_alias", "braze_id")
TRACK_NO_VALID_DATA = (
    "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
)
BRAZE_PATHS = (TRIGGER_SEND, USERS_TRACK)
# Braze's hourly budget shared by the send endpoints; only shown in headers, never enforced.
RATE_LIMIT_PER_HOUR = 250_000

FORWARD_TIMEOUT_SECONDS = 30.0
WAIT_POLL_SECONDS = 0.02
# How long stop() may wait for the serving loop to notice; tests stop a server each.
SHUTDOWN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: Any
    at: float
    monotonic: float


@dataclass(frozen=True)
class _Response:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    page: str | None = None
    page_type: str = "text/html; charset=utf-8"

    def encoded(self) -> tuple[bytes, str]:
        if self.page is not None:
            return self.page.encode("utf-8"), self.page_type
        return json.dumps(self.payload).encode("utf-8"), "application/json"


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, payload, dict(headers or {}))


@dataclass
class _Behaviour:
    mode: str = "ok"
    remaining: int | None = None
    deadline: float | None = None
    reset_in: float = DEFAULT_RESET_IN
    delay: float = DEFAULT_DELAY
    ratio: float = DEFAULT_RATIO
    # Only this endpoint misbehaves (None: both), e.g. /users/track failing while sends work.
    path: str | None = None

    def applies_to(self, path: str) -> bool:
        return self.path is None or self.path == path

    def expired(self, now: float) -> bool:
        used_up = self.remaining is not None and self.remaining <= 0
        return used_up or (self.deadline is not None and now >= self.deadline)

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "remaining": self.remaining,
            "seconds_left": None if self.deadline is None else max(self.deadline - now, 0.0),
            "reset_in": self.reset_in,
            "delay": self.delay,
            "ratio": self.ratio,
            "path": self.path,
        }


class BrazeStandin:
    """Braze's REST API as far as handoff uses it, served on loopback with a switchable mood."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        campaign_ids: Sequence[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        reply_campaign_id: str | None = None,
        unknown_campaign_status: int = 400,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Braze documents 400 "Invalid Campaign ID"; 404 is what some clients meet.
        self._unknown_campaign_status = unknown_campaign_status
        # The "slow" mode's delay; injectable so a test can see it served without timing it.
        self._sleep = sleep
        self.host = host
        self.port = port
        self.set_webhook(webhook_url, webhook_secret)
        self._api_key = api_key or None
        self._campaign_ids = None if campaign_ids is None else frozenset(campaign_ids)
        # Only for the page: sends through any other campaign (templates, quick-reply
        # menus, surveys) are shown as campaign sends, with their properties.
        self.reply_campaign_id = reply_campaign_id or None
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        # The latest attributes /users/track recorded per user, as Braze's profile shows them.
        self._profiles: dict[str, dict[str, Any]] = {}
        # Users whose attribute objects /users/track refuses, with Braze's reason.
        self._refused: dict[str, str] = {}
        self._behaviour = _Behaviour()
        self._rng = random.Random(0)
        self._rate_window = -1
        self._rate_used = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> BrazeStandin:
        if self._server is not None:
            raise RuntimeError("the Braze stand-in is already running")
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="braze-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        thread.join()

    def __enter__(self) -> BrazeStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Braze stand-in is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def set_webhook(self, webhook_url: str | None, webhook_secret: str | None = None) -> None:
        """Where the page's customer simulator posts, and with which secret (None: nowhere).

        Settable on a running stand-in, because tests start the app after the stand-in
        whose URL it is given."""
        webhook_url = webhook_url or None
        if webhook_url is not None and urlsplit(webhook_url).scheme not in ("http", "https"):
            raise ValueError("webhook_url must be an http:// or https:// URL")
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret or None

    # -- what tests ask --------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Copies, so a test cannot corrupt what the server thread is still appending to."""
        with self._lock:
            chosen = [record for record in self._records if path is None or record["path"] == path]
            return copy.deepcopy(chosen)

    def sent_messages(self) -> list[dict[str, Any]]:
        """One entry per recipient Braze would have messaged: tests assert on replies, not calls."""
        return [
            message
            for record in self.requests(TRIGGER_SEND)
            if 200 <= record["status"] < 300
            for message in _messages_of(record)
        ]

    def clear(self) -> int:
        """Forget requests, profiles and refused users: a clean Braze for the next test."""
        with self._lock:
            cleared = len(self._records)
            self._records.clear()
            self._profiles.clear()
            self._refused.clear()
            return cleared

    def profiles(self) -> dict[str, dict[str, Any]]:
        """Each user's custom attributes as /users/track left them (latest value wins)."""
        with self._lock:
            return copy.deepcopy(self._profiles)

    def refuse_user(self, external_id: str, reason: str = "'external_id' is not valid") -> None:
        """Make /users/track refuse this user's objects, as Braze does with non-fatal
        `errors` in a 201 (or a 400 when no object of a request is left)."""
        with self._lock:
            self._refused[external_id] = reason

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Replies are sent from handoff's background work, so tests must wait, not look once."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.sent_messages()
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_report(timeout, messages))
            time.sleep(WAIT_POLL_SECONDS)

    def _timeout_report(self, timeout: float, messages: list[dict[str, Any]]) -> str:
        latest = [(m["external_user_id"], m["trigger_properties"]) for m in messages[-10:]]
        answered = [f"{r['method']} {r['path']} -> {r['status']}" for r in self.requests()[-10:]]
        return (
            f"Braze stand-in: predicate still false after {timeout}s; "
            f"{len(messages)} message(s) accepted, latest {latest!r}; "
            f"latest requests {answered or 'none'}"
        )

    # -- failure injection -----------------------------------------------------------

    def set_behaviour(
        self,
        mode: str,
        count: int | None = None,
        seconds: float | None = None,
        reset_in: float | None = None,
        delay: float | None = None,
        ratio: float | None = None,
        seed: int | None = None,
        path: str | None = None,
    ) -> dict[str, Any]:
        """Reseeds on every call so that a fail_ratio run is the same run every time.

        `path` limits the behaviour to one endpoint (its count counts only that one's
        requests); by default it applies to both.
        """
        behaviour = _behaviour_from(mode, count, seconds, reset_in, delay, ratio)
        if path is not None and path not in BRAZE_PATHS:
            raise ValueError(f"path must be one of {BRAZE_PATHS}, not {path!r}")
        behaviour.path = path
        seed = _checked("seed", seed, minimum=0, integer=True)
        with self._lock:
            self._behaviour = behaviour
            self._rng.seed(0 if seed is None else seed)
        return self.behaviour()

    def behaviour(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return self._live_behaviour(now).describe(now)

    def _live_behaviour(self, now: float) -> _Behaviour:
        """Caller holds the lock. A spent count or time limit falls back to answering normally."""
        if self._behaviour.expired(now):
            self._behaviour = _Behaviour()
        return self._behaviour

    def _draw_behaviour(self, path: str) -> tuple[float, _Response | None]:
        """Take one request's share of the behaviour: a delay to serve, or a failure to answer."""
        with self._lock:
            behaviour = self._live_behaviour(time.monotonic())
            if not behaviour.applies_to(path):
                return 0.0, None
            if behaviour.remaining is not None:
                behaviour.remaining -= 1
            mode, delay, reset_in = behaviour.mode, behaviour.delay, behaviour.reset_in
            unlucky = mode == "fail_ratio" and self._rng.random() < behaviour.ratio
        if mode == "slow":
            return delay, None
        if mode == "error500" or unlucky:
            return 0.0, _json(500, {"message": "Internal Server Error"})
        if mode == "rate_limit":
            reset_at = math.ceil(time.time() + reset_in)
            return 0.0, _json(429, {"message": "Rate Limited"}, _rate_headers(0, reset_at))
        if mode == "unauthorized":
            return 0.0, _json(401, {"message": "Invalid API key"})
        return 0.0, None

    def _rate_limit_headers(self) -> dict[str, str]:
        """Braze's headers on a normal answer, counted over the current clock hour."""
        window = int(time.time() // 3600)
        with self._lock:
            if window != self._rate_window:
                self._rate_window, self._rate_used = window, 0
            self._rate_used += 1
            remaining = max(RATE_LIMIT_PER_HOUR - self._rate_used, 0)
        return _rate_headers(remaining, (window + 1) * 3600)

    # -- answering -------------------------------------------------------------------

    def _answer(self, request: _Request) -> _Response:
        if request.path == "/" or request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        response = self._braze(request)
        self._record(request, response)
        return response

    def _braze(self, request: _Request) -> _Response:
        """Unknown paths are answered and recorded too: a wrong endpoint is a bug to see."""
        endpoint = {TRIGGER_SEND: self._trigger_send, USERS_TRACK: self._users_track}.get(
            request.path
        )
        if endpoint is None:
            return _json(404, {"message": f"Not found: {request.path}"})
        if request.method != "POST":
            return _json(405, {"message": f"{request.path} only accepts POST"})
        delay, failure = self._draw_behaviour(request.path)
        if delay:
            self._sleep(delay)
        if failure is not None:
            return failure
        auth_error = self._auth_error(request.headers.get("Authorization"))
        if auth_error is not None:
            return _json(401, {"message": auth_error})
        response = endpoint(request.body)
        return replace(response, headers={**response.headers, **self._rate_limit_headers()})

    def _auth_error(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "Invalid API key: no Bearer token in the Authorization header"
        if self._api_key is not None and token != self._api_key:
            return "Invalid API key: the Bearer token is not the configured key"
        return None

    def _trigger_send(self, body: Any) -> _Response:
        error = _trigger_send_error(body, self._campaign_ids)
        if error == UNKNOWN_CAMPAIGN:
            return _json(self._unknown_campaign_status, {"message": error})
        if error is not None:
            return _json(400, {"message": error})
        return _json(201, {"dispatch_id": _new_id(), "message": "success"})

    def _users_track(self, body: Any) -> _Response:
        """Like Braze: a malformed request or one over the limit is a 400; an object that
        is not valid (no user id, a refused user) is a non-fatal error in a 201, unless
        no valid object is left (400). Valid attribute objects update the profiles."""
        error = _users_track_error(body)
        if error is not None:
            return _json(400, {"message": error})
        with self._lock:
            refused = dict(self._refused)
        errors: list[dict[str, Any]] = []
        processed: dict[str, int] = {}
        valid_attributes: list[dict[str, Any]] = []
        for kind in (kind for kind in TRACK_KINDS if kind in body):
            processed[f"{kind}_processed"] = 0
            for index, item in enumerate(body[kind]):
                reason = _track_object_error(item, kind, refused)
                if reason is not None:
                    errors.append({"type": reason, "input_array": kind, "index": index})
                    continue
                processed[f"{kind}_processed"] += 1
                if kind == "attributes":
                    valid_attributes.append(item)
        if not any(processed.values()):
            first = errors[0]
            message = (
                f"{TRACK_NO_VALID_DATA} {first['input_array']}[{first['index']}]: {first['type']}"
            )
            return _json(400, {"message": message, "errors": errors})
        with self._lock:
            for item in valid_attributes:
                profile = self._profiles.setdefault(_track_user_key(item), {})
                profile.update(
                    {
                        name: value
                        for name, value in item.items()
                        if name not in TRACK_USER_IDS and not name.startswith("_")
                    }
                )
        return _json(
            201, {"message": "success", **processed, **({"errors": errors} if errors else {})}
        )

    def _record(self, request: _Request, response: _Response, **extra: Any) -> None:
        payload = response.payload if isinstance(response.payload, dict) else {}
        record = {
            "method": request.method,
            "path": request.path,
            "headers": _masked_headers(request.headers),
            "body": request.body,
            "status": response.status,
            "dispatch_id": payload.get("dispatch_id"),
            "at": request.at,
            "monotonic": request.monotonic,
            **extra,
        }
        with self._lock:
            self._records.append(record)

    # -- control endpoints -----------------------------------------------------------

    def _control(self, request: _Request) -> _Response:
        routes: dict[tuple[str, str], Callable[[_Request], _Response]] = {
            ("GET", "/"): self._page,
            ("GET", PAGE_SCRIPT): lambda _: _Response(
                200, page=_page_file("page.js"), page_type="text/javascript; charset=utf-8"
            ),
            ("GET", "/_standin/health"): lambda _: _json(200, {"status": "ok"}),
            ("GET", "/_standin/behaviour"): lambda _: _json(200, self.behaviour()),
            ("GET", "/_standin/profiles"): lambda _: _json(200, self.profiles()),
            ("POST", "/_standin/behaviour"): self._post_behaviour,
            ("GET", "/_standin/requests"): self._list_requests,
            ("DELETE", "/_standin/requests"): lambda _: _json(200, {"cleared": self.clear()}),
            ("POST", INBOUND): self._inbound,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            known = any(path == request.path for _, path in routes)
            return _json(405 if known else 404, {"message": f"No {request.method} {request.path}"})
        # A JSON content type forces a CORS preflight, so other web pages cannot drive these.
        if request.method == "POST" and not _is_json(request.headers):
            return _json(415, {"message": "Send Content-Type: application/json"})
        return route(request)

    def _post_behaviour(self, request: _Request) -> _Response:
        body = request.body
        if not isinstance(body, dict) or "mode" not in body:
            return _json(400, {"message": f"Expected a JSON object with a mode, one of {MODES}"})
        unknown = sorted(set(body) - BEHAVIOUR_KEYS)
        if unknown:
            return _json(
                400, {"message": f"Unknown keys {unknown}; known: {sorted(BEHAVIOUR_KEYS)}"}
            )
        try:
            return _json(200, self.set_behaviour(**body))
        except ValueError as error:
            return _json(400, {"message": str(error)})

    def _list_requests(self, request: _Request) -> _Response:
        path = request.query.get("path", [None])[0]
        return _json(200, self.requests(path))

    def _page(self, _request: _Request) -> _Response:
        if self.webhook_url is None:
            note = (
                "Forwarding is not configured: start the stand-in with --webhook-url "
                "(or HANDOFF_WEBHOOK_URL) to post these messages to handoff."
            )
            disabled = "disabled"
        else:
            note = f"Posts to {html.escape(self.webhook_url)} as Braze's webhook campaign would."
            disabled = ""
        if self.reply_campaign_id is None:
            reply_campaign = ""
        else:
            reply_campaign = f' data-reply-campaign="{html.escape(self.reply_campaign_id)}"'
        page = (
            _page_file("page.html")
            .replace("__FORWARDING_NOTE__", note)
            .replace("__SEND_DISABLED__", disabled)
            .replace("__REPLY_CAMPAIGN_ATTRIBUTE__", reply_campaign)
        )
        return _Response(200, page=page)

    def _inbound(self, request: _Request) -> _Response:
        """Recorded too, so the page can show the customer's side of the chat."""
        response, extra = self._forward_inbound(request.body)
        self._record(request, response, **extra)
        return response

    def _forward_inbound(self, body: Any) -> tuple[_Response, dict[str, Any]]:
        if self.webhook_url is None:
            message = "Forwarding is not configured: start the stand-in with a webhook_url"
            return _json(409, {"message": message}), {}
        error = _inbound_error(body)
        if error is not None:
            return _json(400, {"message": error}), {}
        webhook_body = {
            "user_id": body["user_id"],
            "phone_number": body.get("phone_number", ""),
            "name": body.get("name", ""),
            "message": body["message"],
            "message_id": _new_id(),
        }
        extra: dict[str, Any] = {"message_id": webhook_body["message_id"]}
        try:
            status, text = _post_webhook(self.webhook_url, webhook_body, self._webhook_secret)
        except OSError as error:
            reason = getattr(error, "reason", error)
            return _json(502, {"message": f"Could not reach the webhook URL: {reason}"}), extra
        answer = {"status": status, "body": _parsed(text), "message_id": webhook_body["message_id"]}
        return _json(200, answer), {**extra, "forwarded_status": status}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes a burst of concurrent sends wait a second for a SYN retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], standin: BrazeStandin) -> None:
        self.standin = standin
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "BrazeStandin/1"
    # Headers and body are written separately; with Nagle on, keep-alive clients wait ~40 ms.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        request = self._read_request()
        self._write(self.server.standin._answer(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _read_request(self) -> _Request:
        at, monotonic = time.time(), time.monotonic()
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", "replace") if length > 0 else ""
        return _Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=self.headers,
            body=_parsed(text),
            at=at,
            monotonic=monotonic,
        )

    def _write(self, response: _Response) -> None:
        body, content_type = response.encoded()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (typically during "slow"); that is its business, not an error.
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Only Braze calls: the page polls the control endpoints every two seconds."""
        path = urlsplit(self.path).path
        if path != "/" and not path.startswith(CONTROL_PREFIX):
            super().log_request(code, size)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Braze does not follow redirects; a webhook URL that redirects must show up as broken."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_webhook(url: str, body: dict[str, Any], secret: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "Braze Sender (stand-in)"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    # The constructor allowed only http(s) URLs, so urllib cannot be steered to file: here.
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    # No proxies: the target is handoff on this machine, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    try:
        with opener.open(request, timeout=FORWARD_TIMEOUT_SECONDS) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


# -- validation, as Braze documents it -------------------------------------------------


def _trigger_send_error(body: Any, campaign_ids: frozenset[str] | None) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    campaign_id = body.get("campaign_id")
    if not isinstance(campaign_id, str) or not campaign_id:
        return "campaign_id is required and must be a non-empty string"
    if campaign_ids is not None and campaign_id not in campaign_ids:
        return UNKNOWN_CAMPAIGN
    if not isinstance(body.get("trigger_properties", {}), dict):
        return "trigger_properties must be an object"
    recipients = body.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        return "recipients must be a non-empty array (the stand-in does not emulate broadcast)"
    if len(recipients) > RECIPIENT_LIMIT:
        return f"recipients holds {len(recipients)} objects; the limit is {RECIPIENT_LIMIT}"
    for index, recipient in enumerate(recipients):
        error = _recipient_error(recipient)
        if error is not None:
            return f"recipients[{index}]: {error}"
    return None


def _recipient_error(recipient: Any) -> str | None:
    if not isinstance(recipient, dict):
        return "must be an object"
    ids = [key for key in RECIPIENT_IDS if key in recipient]
    if len(ids) != 1:
        return f"needs exactly one of {', '.join(RECIPIENT_IDS)}, found {ids or 'none'}"
    identifier = recipient[ids[0]]
    expected_type = dict if ids[0] == "user_alias" else str
    if not isinstance(identifier, expected_type) or not identifier:
        return f"{ids[0]} must be a non-empty {'object' if expected_type is dict else 'string'}"
    if not isinstance(recipient.get("trigger_properties", {}), dict):
        return "trigger_properties must be an object"
    if not isinstance(recipient.get("send_to_existing_only", True), bool):
        return "send_to_existing_only must be a boolean"
    return None


def _users_track_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    kinds = [kind for kind in TRACK_KINDS if kind in body]
    if not kinds:
        return f"Expected at least one of {', '.join(TRACK_KINDS)}"
    for kind in kinds:
        items = body[kind]
        if not isinstance(items, list):
            return f"{kind} must be an array"
        if len(items) > TRACK_OBJECT_LIMIT:
            return f"{kind} holds {len(items)} objects; the limit is {TRACK_OBJECT_LIMIT}"
    return None


def _track_object_error(item: Any, kind: str, refused: dict[str, str]) -> str | None:
    """Why Braze would skip this object (a non-fatal error), or None if it is valid."""
    if not isinstance(item, dict):
        return f"{kind} objects must be JSON objects"
    ids = [key for key in TRACK_USER_IDS if key in item]
    if len(ids) != 1:
        return f"exactly one of {', '.join(TRACK_USER_IDS)} is required, found {ids or 'none'}"
    identifier = item[ids[0]]
    if ids[0] == "user_alias":
        if not (
            isinstance(identifier, dict)
            and all(isinstance(identifier.get(k), str) for k in ("alias_name", "alias_label"))
        ):
            return "user_alias needs alias_name and alias_label strings"
    elif not isinstance(identifier, str) or not identifier:
        return f"{ids[0]} must be a non-empty string"
    if ids[0] == "external_id" and identifier in refused:
        return refused[identifier]
    if kind == "attributes":
        reserved = [name for name in item if name.startswith("$")]
        if reserved:
            return f"custom attribute names may not start with '$': {reserved}"
    return None


def _track_user_key(item: dict[str, Any]) -> str:
    """The profiles' key: the external id, else the alias or Braze id, marked as such."""
    if "external_id" in item:
        return item["external_id"]
    if "braze_id" in item:
        return f"braze_id:{item['braze_id']}"
    alias = item["user_alias"]
    return f"alias:{alias['alias_label']}:{alias['alias_name']}"


def _inbound_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    for key in ("user_id", "message"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key} is required and must be a non-empty string"
    for key in ("phone_number", "name"):
        if not isinstance(body.get(key, ""), str):
            return f"{key} must be a string"
    return None


def _behaviour_from(
    mode: str,
    count: int | None,
    seconds: float | None,
    reset_in: float | None,
    delay: float | None,
    ratio: float | None,
) -> _Behaviour:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    count = _checked("count", count, minimum=1, integer=True)
    seconds = _checked("seconds", seconds, minimum=0)
    reset_in = _checked("reset_in", reset_in, minimum=0)
    delay = _checked("delay", delay, minimum=0)
    ratio = _checked("ratio", ratio, minimum=0, maximum=1)
    return _Behaviour(
        mode=mode,
        remaining=count,
        deadline=None if seconds is None else time.monotonic() + seconds,
        reset_in=DEFAULT_RESET_IN if reset_in is None else reset_in,
        delay=DEFAULT_DELAY if delay is None else delay,
        ratio=DEFAULT_RATIO if ratio is None else ratio,
    )


def _checked(
    name: str, value: Any, *, minimum: float, maximum: float | None = None, integer: bool = False
) -> Any:
    """Values also arrive over HTTP as arbitrary JSON, so types are checked, not assumed."""
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"{name} must be at least {minimum}{upper}")
    return value


# -- small helpers ---------------------------------------------------------------------


def _messages_of(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Recipient properties win over the top-level ones, as Braze merges them."""
    body = record["body"]
    shared = body.get("trigger_properties", {})
    for recipient in body["recipients"]:
        yield {
            "external_user_id": recipient.get("external_user_id"),
            "campaign_id": body["campaign_id"],
            "trigger_properties": {**shared, **recipient.get("trigger_properties", {})},
            "status": record["status"],
            "dispatch_id": record["dispatch_id"],
            "at": record["at"],
        }


def _rate_headers(remaining: int, reset_at: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT_PER_HOUR),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_at),
    }


def _masked_headers(headers: Message) -> dict[str, str]:
    """The key may be a real one copied from .env; the scheme is enough to debug with."""
    return {
        name: f"{value.partition(' ')[0]} ***" if name.lower() == "authorization" else value
        for name, value in headers.items()
    }


def _is_json(headers: Message) -> bool:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower() == "application/json"


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _page_file(name: str) -> str:
    """Read on each request, so an edited page shows on reload without a restart."""
    return (PAGE_DIRECTORY / name).read_text(encoding="utf-8")


def _new_id() -> str:
    return uuid.uuid4().hex


# -- command line ------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.braze_standin",
        description="Serve a local stand-in for Braze's REST API (development only).",
    )
    env = os.environ.get
    parser.add_argument("--port", type=int, default=env("BRAZE_STANDIN_PORT", "9001"))
    parser.add_argument(
        "--api-key",
        default=env("BRAZE_API_KEY"),
        help="Bearer token to require (default: $BRAZE_API_KEY; unset accepts any token)",
    )
    parser.add_argument(
        "--webhook-url",
        default=env("HANDOFF_WEBHOOK_URL"),
        help="handoff's webhook, for the page's customer simulator",
    )
    parser.add_argument(
        "--reply-campaign-id",
        default=env("BRAZE_CAMPAIGN_ID"),
        help="the plain-text reply campaign; the page marks sends through others as campaigns",
    )
    parser.add_argument(
        "--webhook-secret",
        default=env("HANDOFF_WEBHOOK_SECRET"),
        help="sent as 'Authorization: Bearer ...' with simulated customer messages",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    standin = BrazeStandin(
        port=args.port,
        api_key=args.api_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        reply_campaign_id=args.reply_campaign_id,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    standin.start()
    print(f"Braze stand-in listening on {standin.url}", flush=True)
    stopping.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
