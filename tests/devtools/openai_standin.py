"""A local stand-in for an OpenAI-compatible chat-completions server, for tests and demos.

handoff's LLM bot (``HANDOFF_BOT=openai``) posts to ``{OPENAI_BASE_URL}/chat/completions``.
A real model is slow, costs money, needs a key or a GPU, and cannot be told to fail on
demand. This stand-in serves that one endpoint on loopback, records every request it
receives, and answers in the mood it is set to: a text answer, a call of the hand-over
tool with a reason, malformed JSON, a 500, or slowly, so that the bot's parsing,
timeouts and hand-over run over a real socket.

What it must never do:

* run in production or be reachable by anyone but the developer: it binds to loopback
  and its control endpoints have no authentication;
* decide anything for handoff: it calls whatever tool the request offers, with the
  reason it was given, and otherwise answers as it is told;
* record a secret: Authorization headers are recorded masked; a configured key is
  checked (a wrong one is a 401) so tests can still tell that the right key was sent.

Standard library only and nothing of Django, so it runs without settings::

    python -m tests.devtools.openai_standin --port 9002
    curl -X POST localhost:9002/_standin/behaviour -H 'Content-Type: application/json' \\
         -d '{"mode": "handoff", "reason": "wants a refund"}'
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODES = ("text", "handoff", "malformed", "error500", "slow")
BEHAVIOUR_KEYS = frozenset({"mode", "count", "text", "reason", "seconds"})
DEFAULT_PREFIX = "/v1"
DEFAULT_SLOW_SECONDS = 5.0
CONTROL_PREFIX = "/_standin/"
WAIT_POLL_SECONDS = 0.02
SHUTDOWN_POLL_SECONDS = 0.05
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass
class _Behaviour:
    mode: str = "text"
    remaining: int | None = None
    text: str | None = None
    reason: str = "The customer asked for a person."
    seconds: float = DEFAULT_SLOW_SECONDS

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "remaining": self.remaining,
            "text": self.text,
            "reason": self.reason,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Response:
    status: int
    payload: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.payload).encode("utf-8")


def _error(status: int, message: str, kind: str = "invalid_request_error") -> _Response:
    """OpenAI's error shape, which the compatible servers copy."""
    return _Response(status, {"error": {"message": message, "type": kind, "code": None}})


class OpenAIStandin:
    """``POST {prefix}/chat/completions`` on loopback, in a mood tests switch."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.host = host
        self.port = port
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._api_key = api_key or None
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._behaviour = _Behaviour()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> OpenAIStandin:
        if self._server is not None:
            raise RuntimeError("the OpenAI stand-in is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="openai-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wakes slow answers too, so a test's teardown never waits for them."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> OpenAIStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """What OPENAI_BASE_URL is set to."""
        if self._server is None:
            raise RuntimeError("the OpenAI stand-in is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    # -- what tests ask --------------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """Every request, recorded when it arrived (status None while being answered);
        copies, so a test cannot corrupt what a server thread still updates."""
        with self._lock:
            return copy.deepcopy(self._records)

    def completions(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["path"] == self.prefix + "/chat/completions"]

    def clear(self) -> int:
        with self._lock:
            cleared = len(self._records)
            self._records.clear()
            return cleared

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The bot asks from handoff's background work, so tests must wait, not look once."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.completions()
            if len(records) >= count:
                return records
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"OpenAI stand-in: {len(records)} completion request(s) after {timeout} s, "
                    f"expected {count}"
                )
            time.sleep(WAIT_POLL_SECONDS)

    # -- moods -------------------------------------------------------------------------

    def set_behaviour(
        self,
        mode: str,
        count: int | None = None,
        text: str | None = None,
        reason: str | None = None,
        seconds: float | None = None,
    ) -> dict[str, Any]:
        """`count` requests in this mood (all, if None), then plain text answers again.

        text: the answer ("text" and "slow"; default: an echo of the customer's last
        message). reason: the hand-over tool's argument. seconds: how long "slow" waits.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count must be an integer")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
            raise ValueError("seconds must be a number, at least 0")
        behaviour = _Behaviour(mode=mode, remaining=count, text=text)
        if reason is not None:
            behaviour.reason = str(reason)
        if seconds is not None:
            behaviour.seconds = float(seconds)
        with self._lock:
            self._behaviour = behaviour
        return self.behaviour()

    def behaviour(self) -> dict[str, Any]:
        with self._lock:
            return self._behaviour.describe()

    def _draw(self) -> _Behaviour:
        with self._lock:
            behaviour = self._behaviour
            if behaviour.remaining is not None:
                behaviour.remaining -= 1
                if behaviour.remaining <= 0:
                    self._behaviour = _Behaviour()
            return copy.copy(behaviour)

    # -- answering -------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers, body: Any, client_port: int) -> _Response:
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path, headers, body)
        record = self._record(method, path, headers, body, client_port)
        response = self._completion(method, path, headers, body)
        with self._lock:
            record["status"] = response.status
        return response

    def _completion(self, method: str, path: str, headers, body: Any) -> _Response:
        if path != self.prefix + "/chat/completions":
            return _error(404, f"Not found: {path}")
        if method != "POST":
            return _error(405, f"{path} only accepts POST")
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if self._api_key is not None and (scheme.lower() != "bearer" or token != self._api_key):
            return _error(401, "Incorrect API key provided.")
        problem = _request_problem(body)
        if problem is not None:
            return _error(400, problem)
        behaviour = self._draw()
        if behaviour.mode == "slow" and self._stopping.wait(behaviour.seconds):
            return _error(503, "The stand-in is stopping.", "server_error")
        if behaviour.mode == "error500":
            return _error(
                500, "The server had an error while processing your request.", "server_error"
            )
        if behaviour.mode == "malformed":
            return _Response(200, raw=b'{"id": "chatcmpl-broken", "choices": [{"message": ')
        if behaviour.mode == "handoff":
            tools = _tool_names(body)
            if not tools:
                return _error(400, "mode 'handoff' needs a request that offers a tool")
            call = {
                "id": "call_" + uuid.uuid4().hex[:24],
                "type": "function",
                "function": {
                    "name": tools[0],
                    "arguments": json.dumps({"reason": behaviour.reason}),
                },
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            return _Response(200, _completion_of(body, message, "tool_calls"))
        text = behaviour.text if behaviour.text is not None else _echo(body)
        message = {"role": "assistant", "content": text}
        return _Response(200, _completion_of(body, message, "stop"))

    def _record(self, method: str, path: str, headers, body: Any, client_port: int) -> dict:
        record = {
            "method": method,
            "path": path,
            "headers": {
                name: f"{value.partition(' ')[0]} ***" if name.lower() == "authorization" else value
                for name, value in headers.items()
            },
            "body": body,
            "status": None,
            "at": time.time(),
            "monotonic": time.monotonic(),
            # The client's port: the same port on two requests means a reused connection.
            "client_port": client_port,
        }
        with self._lock:
            self._records.append(record)
        return record

    # -- control endpoints -----------------------------------------------------------

    def _control(self, method: str, path: str, headers, body: Any) -> _Response:
        routes: dict[tuple[str, str], Callable[[], _Response]] = {
            ("GET", "/_standin/health"): lambda: _Response(200, {"status": "ok"}),
            ("GET", "/_standin/behaviour"): lambda: _Response(200, self.behaviour()),
            ("POST", "/_standin/behaviour"): lambda: self._post_behaviour(body),
            ("GET", "/_standin/requests"): lambda: _Response(200, self.requests()),
            ("DELETE", "/_standin/requests"): lambda: _Response(200, {"cleared": self.clear()}),
        }
        route = routes.get((method, path))
        if route is None:
            return _error(404, f"No {method} {path}")
        # A JSON content type forces a CORS preflight, so other web pages cannot drive these.
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if method == "POST" and content_type != "application/json":
            return _error(415, "Send Content-Type: application/json")
        return route()

    def _post_behaviour(self, body: Any) -> _Response:
        if not isinstance(body, dict) or "mode" not in body:
            return _error(400, f"Expected a JSON object with a mode, one of {MODES}")
        unknown = sorted(set(body) - BEHAVIOUR_KEYS)
        if unknown:
            return _error(400, f"Unknown keys {unknown}; known: {sorted(BEHAVIOUR_KEYS)}")
        try:
            return _Response(200, self.set_behaviour(**body))
        except ValueError as error:
            return _error(400, str(error))


def _request_problem(body: Any) -> str | None:
    """Refuse what a real server refuses, so a malformed request fails here too."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array."
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"messages[{n}] needs a role, one of {sorted(ROLES)}."
        if message["role"] != "assistant" and not isinstance(message.get("content"), str):
            return f"messages[{n}].content must be a string."
    if "tools" in body and not isinstance(body["tools"], list):
        return "'tools' must be an array."
    return None


def _tool_names(body: dict) -> list[str]:
    return [
        tool["function"]["name"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
    ]


def _echo(body: dict) -> str:
    users = [m.get("content") for m in body["messages"] if m.get("role") == "user"]
    return f"(stand-in model) You wrote: {users[-1] if users else ''}"


def _completion_of(body: dict, message: dict, finish_reason: str) -> dict:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for a slow answer whose client already gave up.
    block_on_close = False

    def __init__(self, address: tuple[str, int], standin: OpenAIStandin) -> None:
        self.standin = standin
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Kept-alive connections would otherwise hold a thread each until the client leaves."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive, as real servers do, so that the bot's connection reuse is exercised.
    protocol_version = "HTTP/1.1"
    server_version = "OpenAIStandin/1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", "replace") if length > 0 else ""
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        response = self.server.standin._answer(
            self.command, parts.path, self.headers, body, self.client_address[1]
        )
        payload = response.encoded()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client timed out and left

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: tests read the records, not stderr."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.openai_standin",
        description="Serve a local stand-in for an OpenAI-compatible model (development only).",
    )
    parser.add_argument("--port", type=int, default=os.environ.get("OPENAI_STANDIN_PORT", "9002"))
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="Bearer token to require (default: $OPENAI_API_KEY; unset accepts any)",
    )
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="path before /chat/completions")
    args = parser.parse_args(argv)
    standin = OpenAIStandin(port=args.port, api_key=args.api_key, prefix=args.prefix)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    standin.start()
    print(f"OpenAI stand-in listening; set OPENAI_BASE_URL={standin.url}", flush=True)
    stopping.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
