"""A local stand-in for "your own bot service" (docs/http-bot.md), for tests and the bench.

It is written from the protocol document, not from handoff's code: it checks and
makes signatures with its own few lines of HMAC rather than importing
`handoff.bots.signing`, so a change on our side that breaks the documented protocol
fails the tests instead of passing against itself. It records every request (raw
body, headers, whether the signature verified, when it arrived) and can be told to
answer normally, hand over, or misbehave (bad JSON, 500, slowly, unsigned, wrongly
signed, wrong types, too long), so that every failure path runs over a real socket.

It must never run in production: it binds to loopback and has no authentication on
its control methods. Standard library only, nothing of Django.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Handoff-Signature"
TOLERANCE_SECONDS = 300
HEALTH_PATH = "/_standin/health"
MODES = (
    "echo",  # {"reply": "echo: <text>"}
    "handoff",  # {"reply": "", "handoff": true, "reason": <reason>}
    "no_answer",  # {"reply": ""}
    "bad_json",
    "error500",
    "unsigned",
    "wrong_signature",
    "wrong_types",
    "too_long",
    "drip",  # a correct answer, one byte every DRIP_SECONDS
)
DRIP_SECONDS = 0.1
SHUTDOWN_POLL_SECONDS = 0.05


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """As the protocol tells receivers: right HMAC, and a timestamp within 5 minutes."""
    if not header:
        return False
    fields = dict(item.strip().partition("=")[::2] for item in header.split(","))
    timestamp, given = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), given)


@dataclass
class _Behaviour:
    mode: str = "echo"
    delay: float = 0.0
    reason: str = "the customer asked for a person"


class BotStandin:
    """Your bot service as far as the protocol goes, on loopback, with a switchable mood."""

    def __init__(self, secret: str, *, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0):
        self.secret = secret
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._behaviour = _Behaviour(delay=delay)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotStandin:
        if self._server is not None:
            raise RuntimeError("the bot stand-in is already running")
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="bot-standin",
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

    def __enter__(self) -> BotStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the bot stand-in is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/bot"

    def set_behaviour(
        self, mode: str, *, delay: float | None = None, reason: str | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            current = self._behaviour
            self._behaviour = _Behaviour(
                mode=mode,
                delay=current.delay if delay is None else delay,
                reason=current.reason if reason is None else reason,
            )

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _answer(self, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        received = time.time()
        with self._lock:
            behaviour = copy.copy(self._behaviour)
        verified = signature_ok(self.secret, raw, headers.get(SIGNATURE_HEADER))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._records.append(
                {
                    "raw": raw,
                    "body": body,
                    "headers": headers,
                    "verified": verified,
                    "at": received,
                    "monotonic": time.monotonic(),
                }
            )
        if behaviour.delay:
            time.sleep(behaviour.delay)
        if not verified:
            return 401, b'{"error": "bad signature"}', {}
        text = body.get("text", "") if isinstance(body, dict) else ""
        return self._response(behaviour, text)

    def _response(self, behaviour: _Behaviour, text: str) -> tuple[int, bytes, dict[str, str]]:
        mode = behaviour.mode
        payload: Any = {"reply": f"echo: {text}", "handoff": False, "reason": ""}
        if mode == "handoff":
            payload = {"reply": "", "handoff": True, "reason": behaviour.reason}
        elif mode == "no_answer":
            payload = {"reply": ""}
        elif mode == "wrong_types":
            payload = {"reply": 42, "handoff": "no"}
        elif mode == "too_long":
            payload = {"reply": "x" * 4097}
        raw = b"{not json" if mode == "bad_json" else json.dumps(payload).encode()
        status = 500 if mode == "error500" else 200
        if mode == "unsigned":
            return status, raw, {}
        secret = "not-the-secret" if mode == "wrong_signature" else self.secret
        return status, raw, {SIGNATURE_HEADER: sign(secret, raw)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], standin: BotStandin) -> None:
        self.standin = standin
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "BotStandin/1"
    disable_nagle_algorithm = True  # headers and body are written apart

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if urlsplit(self.path).path == HEALTH_PATH:
            self._write(200, b'{"status": "ok"}', {})
        else:
            self._write(404, b'{"error": "not found"}', {})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        drip = self.server.standin._behaviour.mode == "drip"
        self._write(*self.server.standin._answer(raw, dict(self.headers.items())), drip=drip)

    def _write(
        self, status: int, body: bytes, headers: dict[str, str], *, drip: bool = False
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not drip:
                self.wfile.write(body)
                return
            for index in range(len(body)):  # each byte well within a per-read timeout
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(DRIP_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Quiet: the bench sends hundreds of requests and reads figures, not logs."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.bot_standin",
        description="Serve a stand-in for your own bot service (development only).",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("BOT_STANDIN_PORT", 9002)))
    parser.add_argument("--secret", default=os.environ.get("HANDOFF_BOT_SECRET"))
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--mode", choices=MODES, default="echo")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("--secret (or HANDOFF_BOT_SECRET) is required")
    standin = BotStandin(args.secret, port=args.port, delay=args.delay)
    standin.set_behaviour(args.mode)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    standin.start()
    print(f"bot stand-in listening on {standin.url}", flush=True)
    stopping.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
