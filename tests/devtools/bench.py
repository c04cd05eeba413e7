"""`make bench`: the Braze webhook measured against a bare Django view, as ratios, in one run.

What it measures, on one throwaway installation (a temporary SQLite file, migrated and
seeded with three FAQ entries, the stand-in Braze, and the app under daphne exactly as
the Procfile starts it, background workers included):

* **Flat out** (closed loop, wrk): as many requests as a fixed number of keep-alive
  connections can push in a fixed time. Gives the most requests per second the server
  can take, and the latency when it is saturated.
* **Open loop at a fixed rate** (`tests.devtools.loadgen`): requests leave on a fixed
  schedule whatever the server does, and latency counts from the scheduled send time,
  so a stall is measured in full (no coordinated omission). Gives the latency a
  customer's message sees at a realistic steady load.
* **Drain**: after each flat-out webhook run, how long the background workers need to
  route every stored message (FAQ answer or fallback) and get every reply accepted by
  the stand-in Braze. The webhook answers before that work is done; this is its bill.
  The workers run inside the web process (the default setup), so during a webhook run
  they already compete with it for the CPU, as they would in production.

* **Bot latency** (`HANDOFF_BOT=http`): the app restarted on the same database with
  the HTTP bot pointed at a stand-in bot service (`tests.devtools.bot_standin`) that
  answers every question after a fixed 200 ms. An open-loop run at a modest rate
  sends one message per new customer; for each, the time from its scheduled send to
  the moment the stand-in Braze received the reply, minus the bot's 200 ms, is what
  handoff itself adds (webhook, routing, signing, delivery). Both clocks are the
  machine's monotonic clock, read in different processes.

* **PostgreSQL, one and two web processes** (`tests.devtools.bench_scale`): the
  production shape on throwaway PostgreSQL and Redis, daphne without embedded workers
  beside one `run_workers` process. The webhook and the bare view flat out against one
  web process, then against two at once (one wrk each, half the connections each),
  and the ratio two/one. `--no-postgres` skips it; without PostgreSQL's server or
  Redis the bench fails and says to run `make scale-services`.

Each endpoint receives the same JSON body: 500 customers, texts that the FAQ bot
answers and texts it cannot answer (never an escalation phrase), a unique message_id
as Braze's template sends. The baseline is `POST /bench/bare/`, a bare async Django view
served by the same process with the same middleware (tests/devtools/bench_urls.py).

Why ratios: the machines are small (2 cores) and shared, so an absolute figure says as
much about the neighbours as about the code. The webhook and the baseline are measured
alternately (webhook, bare, webhook) in the same run, on the same server and load
generator, and compared; the ratio is what the quality targets are written in. The
one absolute target (p99 at 50 requests/s) is printed with the baseline beside it.

Every figure goes to bench-results/latest.json, and a Markdown table is printed for
docs/benchmarks.md. The command exits 0 when the targets are missed (they are reported,
not asserted) and non-zero when anything failed: setup, more than 0.1 % of requests
answered non-2xx or lost, or background work that never drained.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from tests.devtools import bench_scale
from tests.devtools.loadgen import OpenLoopResult, Target, run_open_loop

ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = ROOT / "bench-results" / "latest.json"

WEBHOOK_PATH = "/webhooks/braze/whatsapp/"
BARE_PATH = "/bench/bare/"
TRIGGER_SEND_PATH = "/campaigns/trigger/send"
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway local server's
BRAZE_API_KEY = "bench-braze-key"
CAMPAIGN_ID = "bench-campaign"

USERS = 500
# FAQ hits and misses, coprime in count with USERS so every customer gets a mix. None
# contains an escalation phrase: each inbound message then gets exactly one reply.
MESSAGES = (
    "What are your opening hours?",
    "Can I pay with a gift card?",
    "I forgot my password",
    "Is the blue jacket back in stock?",
    "配送状況を知りたい",
    "My parcel arrived damaged, what now?",
    "大阪に店舗はありますか",
)
FAQ_ENTRIES = (
    (
        "What are your opening hours?\nWhen are you open?\n営業時間は？",
        "We're open Monday to Friday, 9:00-18:00 (JST).",
    ),
    (
        "How do I reset my password?\nI forgot my password\nパスワードを忘れました",
        "You can reset your password at https://example.com/reset.",
    ),
    (
        "Where is my order?\nTrack my order\n配送状況を知りたい",
        "You can track your order with the link in your confirmation email.",
    ),
)
# The default hands a conversation to people after two fallbacks in a row, after which
# its messages get no reply; the bench wants one reply per message, so it never does.
BOT_MISS_LIMIT = 32767

TARGET_THROUGHPUT_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_BOT_LATENCY_P50_MS = 50.0

BOT_SECRET = "bench-bot-secret"  # noqa: S105 - a throwaway local server's
BOT_DELAY_SECONDS = 0.2
BOT_RATE = 10.0
BOT_WARMUP_SECONDS = 0.5
# Each routing thread waits for one bot answer at a time: 10/s at 200 ms keeps two
# busy on average, so with the default two the run would measure queueing behind the
# bot, not what handoff adds. Four leave headroom (see docs/http-bot.md).
BOT_ROUTING_THREADS = "4"
MAX_ERROR_FRACTION = 0.001

QUICK_SECONDS = 3.0
WRK_THREADS = 1  # one C thread outpaces this server many times over; leave the cores to it
STARTUP_TIMEOUT = 30.0
DRAIN_TIMEOUT = 300.0
DRAIN_POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 5.0


class BenchError(Exception):
    """Something failed that makes the figures meaningless; the message says what."""


# -- options ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    connections: int
    rate: float
    warmup_seconds: float
    postgres: bool = True


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.bench",
        description="Measure the Braze webhook against a bare Django view, as ratios.",
    )
    parser.add_argument("--seconds", type=float, help="length of each run [10; 3 with --quick]")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections [16]")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop requests/s [50]")
    parser.add_argument("--quick", action="store_true", help="3 s runs, for a smoke test")
    parser.add_argument(
        "--no-postgres",
        dest="postgres",
        action="store_false",
        help="skip the phase on PostgreSQL with one and two web processes",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (QUICK_SECONDS if args.quick else 10.0)
    if seconds <= 0 or args.connections < 1 or args.rate <= 0:
        parser.error("--seconds, --connections and --rate must be positive")
    return Options(
        seconds=seconds,
        connections=args.connections,
        rate=args.rate,
        warmup_seconds=1.0 if args.quick else 2.0,
        postgres=args.postgres,
    )


# -- the request bodies ----------------------------------------------------------------


def webhook_body(number: int, tag: str) -> bytes:
    """Request `number`'s body; the wrk script builds the very same bytes in Lua."""
    user = number % USERS
    body = {
        "user_id": f"bench-user-{user}",
        "phone_number": f"+8190{user:08d}",
        "message": MESSAGES[number % len(MESSAGES)],
        "message_id": f"{tag}-{number}",
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def lua_string(text: str) -> str:
    """A Lua literal for `text`'s UTF-8 bytes (decimal escapes, so any byte is safe)."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and byte not in (34, 92) else f"\\{byte:03d}"
        for byte in text.encode("utf-8")
    )
    return f'"{escaped}"'


WRK_SCRIPT = """\
-- Generated by tests.devtools.bench: POST a varying JSON body, count non-2xx, print JSON.
local messages = {__MESSAGES__}
local users = __USERS__
local tag = __TAG__
local headers = {["Content-Type"] = "application/json", ["Authorization"] = __AUTH__}
local threads = {}
counter = 0
bad = 0
first_bad = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  local n = __FIRST__ + counter * __THREADS__ + tid
  counter = counter + 1
  local user = n % users
  local body = '{"user_id":"bench-user-' .. user .. '","phone_number":"+8190'
    .. string.format("%08d", user) .. '","message":' .. messages[(n % #messages) + 1]
    .. ',"message_id":"' .. tag .. '-' .. n .. '"}'
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local non2xx, first = 0, 0
  for _, thread in ipairs(threads) do
    non2xx = non2xx + thread:get("bad")
    if first == 0 then first = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p90_us":%.1f,'
    .. '"p99_us":%.1f,"max_us":%.1f,"non2xx":%d,"first_non2xx":%d,"connect":%d,'
    .. '"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, non2xx, first, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_script(tag: str, first: int = 0) -> str:
    """The Lua that makes wrk send what `webhook_body` describes, from number `first`."""
    messages = ", ".join(lua_string(json.dumps(text, ensure_ascii=False)) for text in MESSAGES)
    replacements = {
        "__MESSAGES__": messages,
        "__USERS__": str(USERS),
        "__TAG__": lua_string(tag),
        "__AUTH__": lua_string(f"Bearer {WEBHOOK_SECRET}"),
        "__THREADS__": str(WRK_THREADS),
        "__FIRST__": str(first),
    }
    script = WRK_SCRIPT
    for marker, value in replacements.items():
        script = script.replace(marker, value)
    return script


# -- subprocesses ----------------------------------------------------------------------


class Subprocesses:
    """Every child runs in its own process group, and every group is ended on the way out."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: Sequence[str], *, env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as stream:
            process = subprocess.Popen(  # noqa: S603 - our own fixed command lines
                list(argv),
                cwd=ROOT,
                env=env,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(process)
        return process

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float) -> str:
        """Run to completion and return its output; raise BenchError if it fails."""
        process = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            list(argv),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._running.append(process)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"{argv[0]} did not finish within {timeout:g} s") from error
        finally:
            self._stop(process)
            self._running.remove(process)
        text = output.decode("utf-8", "replace")
        if process.returncode != 0:
            raise BenchError(
                f"{' '.join(argv[:4])} ... exited {process.returncode}:\n{text[-3000:]}"
            )
        return text

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        self._stop(process)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(self._running):
            self._stop(process)
        self._running.clear()

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the whole group, then SIGKILL if it has not gone in a few seconds."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                break
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                continue
        # The group may outlive its leader (a child it forked); end the stragglers too.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into an exception, so `finally` blocks clean up as on Ctrl-C."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# -- HTTP helpers (standard library, never through a proxy) ----------------------------

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(method: str, url: str, timeout: float = 10.0) -> tuple[int, Any]:
    """(status, decoded JSON body); BenchError if nothing answers."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback http only
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError) as error:  # URLError is an OSError
        raise BenchError(f"{method} {url} failed: {error}") from error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url} exited early ({process.returncode}):\n{tail(log)}")
        with suppress(BenchError):
            if http_json("GET", url, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer 200 within {STARTUP_TIMEOUT:g} s:\n{tail(log)}")


ACCESS_LOG_LINE = re.compile(r'^\S+ - - \[[^]]*\] "[A-Z]+ ')


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a server's log without its access-log lines, which drown the errors."""
    if not path.exists():
        return "(no log)"
    lines = path.read_text("utf-8", "replace").splitlines()
    kept = "\n".join(line for line in lines if not ACCESS_LOG_LINE.match(line))
    return kept[-chars:] or "(nothing but access-log lines)"


# -- the installation under test -------------------------------------------------------


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Stack:
    """The installation under test: the app, the stand-in Braze and the database.

    `database` is the SQLite file, or a postgres:// URL; `others` are the processes
    beside the app that must stay up too (more web processes, a worker process).
    """

    app: Server
    standin: Server
    database: Path | str
    others: tuple[subprocess.Popen[bytes], ...] = ()

    def check_alive(self) -> None:
        """A process that died mid-run would leave figures that mean nothing."""
        for process in (self.app.process, self.standin.process, *self.others):
            if process.poll() is not None:
                command = " ".join(map(str, process.args[2:4]))
                raise BenchError(f"{command} exited ({process.returncode})")


def server_env(database_url: str, braze_url: str) -> dict[str, str]:
    """Production settings, except what a loopback benchmark must change.

    Settings that would make the figures meaningless (another bot, Redis, an IP
    allow-list, a developer's .env pointing at a real Braze) are pinned; tuning knobs
    such as HANDOFF_ROUTING_THREADS pass through from the caller's environment.
    """
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.devtools.bench_settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HANDOFF_WEBHOOK_ALLOWED_IPS": "",
        "HANDOFF_TRUST_X_FORWARDED_FOR": "false",
        "HANDOFF_EMBEDDED_WORKERS": "true",
        "HANDOFF_BOT": "faq",
        "REDIS_URL": "",
        "BRAZE_REST_ENDPOINT": braze_url,
        "BRAZE_API_KEY": BRAZE_API_KEY,
        "BRAZE_CAMPAIGN_ID": CAMPAIGN_ID,
        "LOG_LEVEL": "WARNING",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


SEED_CODE = """\
import json
from handoff.models import FaqEntry, HandoffSettings
entries, limit = json.loads({payload!r})
FaqEntry.objects.bulk_create(FaqEntry(questions=q, answer=a) for q, a in entries)
HandoffSettings.objects.update_or_create(pk=1, defaults={{"bot_miss_limit": limit}})
"""


def migrate_and_seed(children: Subprocesses, env: dict[str, str]) -> None:
    manage = [sys.executable, "manage.py"]
    children.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, timeout=180)
    payload = json.dumps([FAQ_ENTRIES, BOT_MISS_LIMIT], ensure_ascii=False)
    children.run([*manage, "shell", "-c", SEED_CODE.format(payload=payload)], env=env, timeout=60)


def start_standin(children: Subprocesses, workdir: Path) -> Server:
    port = free_port()
    log = workdir / "standin.log"
    command = [
        sys.executable,
        "-m",
        "tests.devtools.braze_standin",
        "--port",
        str(port),
        "--api-key",
        BRAZE_API_KEY,
    ]
    server = Server(children.start(command, env=dict(os.environ), log=log), port)
    wait_until_healthy(f"{server.url}/_standin/health", server.process, log)
    return server


def start_app(
    children: Subprocesses, env: dict[str, str], workdir: Path, log_name: str = "daphne.log"
) -> Server:
    """The web process as the Procfile's `web:` line starts it, on loopback."""
    port = free_port()
    log = workdir / log_name
    command = [
        sys.executable,
        "-m",
        "handoff.web.server",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "handoff.asgi:application",
    ]
    server = Server(children.start(command, env=env, log=log), port)
    wait_until_healthy(f"{server.url}/healthz", server.process, log)
    return server


@contextmanager
def running_stack(children: Subprocesses) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as folder:
        workdir = Path(folder)
        database = workdir / "bench.sqlite3"
        try:
            standin = start_standin(children, workdir)
            env = server_env(f"sqlite:///{database}", standin.url)
            migrate_and_seed(children, env)
            yield Stack(start_app(children, env, workdir), standin, database)
        except BenchError:
            print(f"daphne log:\n{tail(workdir / 'daphne.log')}", file=sys.stderr)
            raise
        finally:
            children.stop_all()


# -- flat out: wrk ---------------------------------------------------------------------


@dataclass(frozen=True)
class FlatOutRun:
    endpoint: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    first_non2xx: int
    socket_errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def require_wrk(children: Subprocesses) -> str:
    """wrk's path, installing Debian's package when we may; never a silent skip."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; install it with `sudo apt-get install -y wrk`.")
    print("wrk is missing: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        children.run(["apt-get", "install", "-y", "wrk"], env=env, timeout=300)
    except BenchError:
        children.run(["apt-get", "update"], env=env, timeout=300)
        children.run(["apt-get", "install", "-y", "wrk"], env=env, timeout=300)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH.")
    return found


def parse_wrk(endpoint: str, output: str) -> FlatOutRun:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no BENCH_JSON line:\n{output[-3000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return FlatOutRun(
        endpoint=endpoint,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        non2xx=data["non2xx"],
        first_non2xx=data["first_non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
    )


def run_wrk(
    children: Subprocesses,
    wrk: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    tag: str,
    workdir: Path,
    first: int = 0,
) -> FlatOutRun:
    script = workdir / f"{tag}.lua"
    script.write_text(wrk_script(tag, first), encoding="utf-8")
    command = [
        wrk,
        "-t",
        str(WRK_THREADS),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = children.run(command, timeout=seconds + 60)
    endpoint = "webhook" if url.endswith(WEBHOOK_PATH) else "bare"
    return parse_wrk(endpoint, output)


# -- background work: how long until every reply reached Braze -------------------------


def query_row(database: Path | str, query: str) -> tuple[Any, ...]:
    """One row from the SQLite file, or from PostgreSQL when `database` is its URL.

    The bench never configures Django in its own process: the drivers are enough.
    """
    if isinstance(database, Path):
        with closing(sqlite3.connect(database, timeout=20)) as connection:
            return connection.execute(query).fetchone()
    try:
        with psycopg.connect(database, autocommit=True, connect_timeout=10) as connection:
            return connection.execute(query).fetchone()
    except psycopg.Error as error:
        raise BenchError(f"PostgreSQL query failed: {error}") from error


def message_counts(database: Path | str) -> tuple[int, int]:
    """(customer messages stored, replies marked sent): cheap enough to poll ten times a second.

    Stored, not answered: the webhook may finish a request after wrk hung up on it.
    """
    query = """
        SELECT COUNT(*) FILTER (WHERE direction = 'in'),
               COUNT(*) FILTER (WHERE direction = 'out' AND delivery_state = 'sent')
        FROM handoff_message
    """
    inbound, sent = query_row(database, query)
    return inbound, sent


def leftover_work(database: Path | str) -> dict[str, int]:
    """What the workers did not finish: unrouted inbound, unsent or failed outbound."""
    query = """
        SELECT
          COUNT(*) FILTER (WHERE direction = 'in' AND routing_state = 'pending'),
          COUNT(*) FILTER (WHERE direction = 'out' AND delivery_state IN ('queued', 'retrying')),
          COUNT(*) FILTER (WHERE direction = 'out' AND delivery_state = 'failed')
        FROM handoff_message
    """
    pending, unsent, failed = query_row(database, query)
    return {"unrouted": pending, "unsent": unsent, "failed": failed}


@dataclass(frozen=True)
class Sends:
    """What the stand-in Braze received on trigger/send since it was last cleared."""

    accepted: int
    refused: int
    faq_answers: int


FAQ_ANSWERS = frozenset(answer for _questions, answer in FAQ_ENTRIES)


def standin_sends(standin_url: str) -> Sends:
    """Costly with thousands of records (the stand-in copies them all): not for polling."""
    status, records = http_json("GET", f"{standin_url}/_standin/requests?path={TRIGGER_SEND_PATH}")
    if status != 200 or not isinstance(records, list):
        raise BenchError(f"the stand-in's request list answered {status}")
    accepted = [record for record in records if 200 <= record["status"] < 300]
    texts = [
        text
        for record in accepted
        for recipient in record["body"]["recipients"]
        for text in recipient.get("trigger_properties", {}).values()
    ]
    return Sends(
        accepted=len(accepted),
        refused=len(records) - len(accepted),
        faq_answers=sum(1 for text in texts if text in FAQ_ANSWERS),
    )


def clear_standin(standin_url: str) -> None:
    if http_json("DELETE", f"{standin_url}/_standin/requests")[0] != 200:
        raise BenchError("could not clear the stand-in's request list")


@dataclass(frozen=True)
class Drain:
    seconds: float
    messages: int
    replies: int
    refused: int
    faq_answers: int


def wait_for_drain(stack: Stack, before: tuple[int, int], started: float) -> Drain:
    """Until one reply per message stored since `before` is sent, then ask the stand-in.

    The database is polled, not the stand-in: listing thousands of recorded requests
    ten times a second would take a core away from the workers being timed. A reply
    is marked sent only after the stand-in accepted it, so the stand-in's own count
    confirms the figure afterwards.
    """
    while True:
        stack.check_alive()
        inbound, sent = message_counts(stack.database)
        messages, replies = inbound - before[0], sent - before[1]
        now = time.monotonic()
        if replies >= messages:
            sends = standin_sends(stack.standin.url)
            if sends.accepted + sends.refused >= messages:
                return Drain(
                    now - started, messages, sends.accepted, sends.refused, sends.faq_answers
                )
        if now - started > DRAIN_TIMEOUT:
            raise BenchError(
                f"background work did not drain in {DRAIN_TIMEOUT:g} s: {replies} of "
                f"{messages} replies sent; left: {leftover_work(stack.database)}"
            )
        time.sleep(DRAIN_POLL_SECONDS)


@contextmanager
def measuring_drain(stack: Stack, drains: list[Drain] | None) -> Iterator[None]:
    """Around a webhook run: afterwards, wait for the workers and record how long they took.

    Every run starts with the workers idle, so a run never pays for the one before.
    With `drains` None (a bare run, which leaves no work behind) it does nothing.
    """
    if drains is None:
        yield
        return
    clear_standin(stack.standin.url)
    before = message_counts(stack.database)
    yield
    drains.append(wait_for_drain(stack, before, time.monotonic()))


# -- the phases ------------------------------------------------------------------------

# Drift over a phase (a neighbour starting, the database growing) hits both sides alike.
ORDER = (WEBHOOK_PATH, BARE_PATH, WEBHOOK_PATH)


@dataclass
class Results:
    flat_webhook: list[FlatOutRun] = field(default_factory=list)
    flat_bare: list[FlatOutRun] = field(default_factory=list)
    open_webhook: list[OpenLoopResult] = field(default_factory=list)
    open_bare: list[OpenLoopResult] = field(default_factory=list)
    flat_drains: list[Drain] = field(default_factory=list)
    open_drains: list[Drain] = field(default_factory=list)
    bot: BotLatency | None = None
    postgres: bench_scale.PostgresResults | None = None


@dataclass(frozen=True)
class Harness:
    """What every run needs: the processes, wrk, the server and the options."""

    children: Subprocesses
    wrk: str
    stack: Stack
    options: Options
    workdir: Path

    def flat_out(self, path: str, *, tag: str, seconds: float, connections: int) -> FlatOutRun:
        return run_wrk(
            self.children,
            self.wrk,
            self.stack.app.url + path,
            seconds=seconds,
            connections=connections,
            tag=tag,
            workdir=self.workdir,
        )

    def open_loop(self, path: str, *, tag: str) -> OpenLoopResult:
        target = Target(
            host="127.0.0.1",
            port=self.stack.app.port,
            path=path,
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
            body_for=lambda number: webhook_body(number, tag),
        )
        rate, seconds = self.options.rate, self.options.seconds
        return asyncio.run(run_open_loop(target, rate=rate, seconds=seconds))


def warm_up(harness: Harness, prefix: str = "warm") -> None:
    """First requests import and compile; keep that out of the figures."""
    for index, path in enumerate((WEBHOOK_PATH, BARE_PATH)):
        run = harness.flat_out(
            path, tag=f"{prefix}{index}", seconds=harness.options.warmup_seconds, connections=4
        )
        if run.errors:
            raise BenchError(
                f"warm-up of {path}: {run.errors} errors (first: HTTP {run.first_non2xx})"
            )
    wait_for_drain(harness.stack, (0, 0), time.monotonic())


def flat_out_phase(harness: Harness, results: Results) -> None:
    options = harness.options
    for index, path in enumerate(ORDER):
        webhook = path == WEBHOOK_PATH
        print(f"  flat out {path} ({options.seconds:g} s) ...", flush=True)
        with measuring_drain(harness.stack, results.flat_drains if webhook else None):
            run = harness.flat_out(
                path, tag=f"flat{index}", seconds=options.seconds, connections=options.connections
            )
        (results.flat_webhook if webhook else results.flat_bare).append(run)


def open_loop_phase(harness: Harness, results: Results) -> None:
    options = harness.options
    for index, path in enumerate(ORDER):
        webhook = path == WEBHOOK_PATH
        print(f"  open loop {path} ({options.rate:g}/s for {options.seconds:g} s) ...", flush=True)
        with measuring_drain(harness.stack, results.open_drains if webhook else None):
            run = harness.open_loop(path, tag=f"open{index}")
        (results.open_webhook if webhook else results.open_bare).append(run)


# -- bot latency: the HTTP bot against a stand-in that takes a fixed time --------------


@dataclass(frozen=True)
class BotLatency:
    """What handoff adds around a bot answer, per message, in ms (the bot's delay removed)."""

    rate: float
    seconds: float
    bot_delay_ms: float
    routing_threads: int
    messages: int
    replies: int
    webhook_errors: int
    added_ms: list[float] = field(repr=False)

    def percentile(self, fraction: float) -> float:
        if not self.added_ms:
            return math.nan
        ordered = sorted(self.added_ms)
        return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]

    def summary(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "bot_delay_ms": self.bot_delay_ms,
            "routing_threads": self.routing_threads,
            "messages": self.messages,
            "replies": self.replies,
            "webhook_errors": self.webhook_errors,
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.added_ms, default=math.nan),
        }


def bot_body(number: int) -> bytes:
    """One new customer per message: no reply waits behind another of the same customer."""
    body = {
        "user_id": f"bench-bot-user-{number}",
        "phone_number": f"+8191{number:08d}",
        "message": f"bot question {number}: {MESSAGES[number % len(MESSAGES)]}",
        "message_id": f"bot-{number}",
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def start_bot_standin(children: Subprocesses, workdir: Path) -> Server:
    port = free_port()
    log = workdir / "bot-standin.log"
    command = [
        sys.executable,
        "-m",
        "tests.devtools.bot_standin",
        "--port",
        str(port),
        "--secret",
        BOT_SECRET,
        "--delay",
        f"{BOT_DELAY_SECONDS:g}",
    ]
    server = Server(children.start(command, env=dict(os.environ), log=log), port)
    wait_until_healthy(f"{server.url}/_standin/health", server.process, log)
    return server


def bot_reply_times(standin_url: str) -> dict[str, tuple[float, str]]:
    """external_user_id -> (monotonic time the stand-in Braze received the reply, text)."""
    status, records = http_json("GET", f"{standin_url}/_standin/requests?path={TRIGGER_SEND_PATH}")
    if status != 200 or not isinstance(records, list):
        raise BenchError(f"the stand-in's request list answered {status}")
    replies: dict[str, tuple[float, str]] = {}
    for record in records:
        if not 200 <= record["status"] < 300:
            continue
        for recipient in record["body"]["recipients"]:
            texts = list(recipient.get("trigger_properties", {}).values())
            replies.setdefault(recipient["external_user_id"], (record["monotonic"], texts[0]))
    return replies


def bot_latency_phase(
    children: Subprocesses, stack: Stack, options: Options, results: Results
) -> None:
    """Restart the app with the HTTP bot, on the same database, and time each answer."""
    workdir = Path(stack.database).parent
    bot = start_bot_standin(children, workdir)
    children.stop(stack.app.process)
    env = server_env(f"sqlite:///{stack.database}", stack.standin.url) | {
        "HANDOFF_BOT": "http",
        "HANDOFF_BOT_URL": f"{bot.url}/bot",
        "HANDOFF_BOT_SECRET": BOT_SECRET,
        "HANDOFF_BOT_TIMEOUT_SECONDS": "5",
        "HANDOFF_ROUTING_THREADS": BOT_ROUTING_THREADS,
    }
    app = start_app(children, env, workdir, log_name="daphne-bot.log")
    bot_stack = Stack(app, stack.standin, stack.database)
    seconds = options.seconds
    print(
        f"  bot latency: HTTP bot answering in {BOT_DELAY_SECONDS * 1000:g} ms, "
        f"{BOT_RATE:g}/s for {seconds:g} s ...",
        flush=True,
    )

    def open_loop(body_for: Callable[[int], bytes], seconds: float) -> OpenLoopResult:
        target = Target(
            host="127.0.0.1",
            port=app.port,
            path=WEBHOOK_PATH,
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
            body_for=body_for,
        )
        before = message_counts(stack.database)
        run = asyncio.run(run_open_loop(target, rate=BOT_RATE, seconds=seconds))
        wait_for_drain(bot_stack, before, time.monotonic())
        return run

    # The new process's first answers pay for imports and the first connections.
    open_loop(lambda number: bot_body(1_000_000 + number), BOT_WARMUP_SECONDS)
    clear_standin(stack.standin.url)
    run = open_loop(bot_body, seconds)
    replies = bot_reply_times(stack.standin.url)
    added: list[float] = []
    for number in range(run.scheduled):
        reply = replies.get(f"bench-bot-user-{number}")
        if reply is None or not reply[1].startswith("echo: bot question"):
            continue  # not answered by the bot (a fallback text): counted below, not timed
        sent = run.started_at + number / BOT_RATE
        added.append((reply[0] - sent - BOT_DELAY_SECONDS) * 1000)
    results.bot = BotLatency(
        rate=BOT_RATE,
        seconds=seconds,
        bot_delay_ms=BOT_DELAY_SECONDS * 1000,
        routing_threads=int(BOT_ROUTING_THREADS),
        messages=run.scheduled,
        replies=len(added),
        webhook_errors=run.errors,
        added_ms=added,
    )


# -- figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One side of one mode, as the table shows it."""

    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int


def flat_figures(runs: Sequence[FlatOutRun]) -> Figures:
    """Means over the runs (wrk keeps its histogram to itself, so percentiles are averaged)."""
    return Figures(
        throughput=statistics.fmean(run.throughput for run in runs),
        p50_ms=statistics.fmean(run.p50_ms for run in runs),
        p99_ms=statistics.fmean(run.p99_ms for run in runs),
        max_ms=max(run.max_ms for run in runs),
        requests=sum(run.requests for run in runs),
        errors=sum(run.errors for run in runs),
    )


def open_figures(runs: Sequence[OpenLoopResult]) -> Figures:
    """Percentiles over all the runs' requests together."""
    merged = OpenLoopResult(rate=runs[0].rate, seconds=runs[0].seconds, scheduled=0)
    for run in runs:
        merged.latencies_ms.extend(run.latencies_ms)
    return Figures(
        throughput=statistics.fmean(run.achieved_rate for run in runs),
        p50_ms=merged.percentile(0.50),
        p99_ms=merged.percentile(0.99),
        max_ms=max((max(run.latencies_ms, default=math.nan) for run in runs), default=math.nan),
        requests=sum(run.scheduled for run in runs),
        errors=sum(run.errors for run in runs),
    )


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass(frozen=True)
class Comparison:
    mode: str
    webhook: Figures
    bare: Figures

    @property
    def ratios(self) -> dict[str, float]:
        return {
            "throughput": ratio(self.webhook.throughput, self.bare.throughput),
            "p50": ratio(self.webhook.p50_ms, self.bare.p50_ms),
            "p99": ratio(self.webhook.p99_ms, self.bare.p99_ms),
        }


@dataclass(frozen=True)
class TargetCheck:
    name: str
    measured: str
    passed: bool


def check_targets(
    flat: Comparison, steady: Comparison, rate: float, bot: BotLatency | None = None
) -> list[TargetCheck]:
    throughput_ratio = flat.ratios["throughput"]
    p99 = steady.webhook.p99_ms
    checks = [
        TargetCheck(
            f"webhook throughput at least {TARGET_THROUGHPUT_RATIO:g}x the bare view (flat out)",
            f"{throughput_ratio:.2f}x",
            throughput_ratio >= TARGET_THROUGHPUT_RATIO,
        ),
        TargetCheck(
            f"webhook p99 under {TARGET_P99_MS:g} ms at a steady {rate:g} requests/s",
            f"{p99:.1f} ms (bare {steady.bare.p99_ms:.1f} ms)",
            p99 < TARGET_P99_MS,
        ),
    ]
    if bot is not None:
        p50 = bot.percentile(0.50)
        checks.append(
            TargetCheck(
                f"bot latency (webhook to reply at Braze, beyond the bot's own "
                f"{bot.bot_delay_ms:g} ms) p50 under {TARGET_BOT_LATENCY_P50_MS:g} ms "
                f"at {bot.rate:g}/s",
                f"{fmt(p50)} ms (p90 {fmt(bot.percentile(0.90))}, "
                f"p99 {fmt(bot.percentile(0.99))}; {bot.replies}/{bot.messages} answered)",
                p50 < TARGET_BOT_LATENCY_P50_MS and bot.replies == bot.messages,
            )
        )
    return checks


def run_failures(results: Results) -> list[tuple[str, int, int, str]]:
    """(run, requests, failed requests, what failed) for every run."""
    runs: list[tuple[str, int, int, str]] = []
    for name, flat in (("webhook", results.flat_webhook), ("bare", results.flat_bare)):
        runs += [
            (
                f"flat out {name} #{n}",
                run.requests,
                run.errors,
                f"{run.non2xx} non-2xx (first: HTTP {run.first_non2xx}), "
                f"{run.socket_errors} socket errors",
            )
            for n, run in enumerate(flat, 1)
        ]
    for name, steady in (("webhook", results.open_webhook), ("bare", results.open_bare)):
        runs += [
            (f"open loop {name} #{n}", run.scheduled, run.errors, "; ".join(run.error_samples))
            for n, run in enumerate(steady, 1)
        ]
    if results.postgres is not None:
        runs += bench_scale.run_failures(results.postgres)
    return runs


def error_report(results: Results) -> tuple[list[str], bool]:
    """Loud lines for every run with errors, and whether any run is over the limit."""
    lines: list[str] = []
    fatal = False
    for name, total, errors, detail in run_failures(results):
        if errors:
            share = errors / max(total, 1)
            fatal = fatal or share > MAX_ERROR_FRACTION
            lines.append(f"!! {name}: {errors} of {total} requests failed ({share:.2%}): {detail}")
    bot = results.bot
    if bot is not None and (bot.webhook_errors or bot.replies != bot.messages):
        fatal = fatal or bot.webhook_errors > 0
        lines.append(
            f"!! bot latency: {bot.webhook_errors} webhook errors, {bot.replies} of "
            f"{bot.messages} messages answered by the bot"
        )
    pg_drains = bench_scale.drains(results.postgres) if results.postgres is not None else []
    for drain in [*results.flat_drains, *results.open_drains, *pg_drains]:
        if drain.refused or drain.replies != drain.messages:
            fatal = fatal or drain.refused > 0
            lines.append(
                f"!! drain: {drain.messages} messages, {drain.replies} replies accepted, "
                f"{drain.refused} refused by the stand-in"
            )
    return lines, fatal


# -- report ----------------------------------------------------------------------------


def environment_facts(wrk: str) -> dict[str, Any]:
    import django  # the bench itself never configures Django; only its version is wanted

    answer = subprocess.run(  # noqa: S603 - wrk prints its version and usage
        [wrk, "-v"], capture_output=True, text=True, check=False
    )
    wrk_version = (answer.stdout or answer.stderr).splitlines()
    tuned = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("HANDOFF_ROUTING", "HANDOFF_DELIVERY", "HANDOFF_POLL"))
    }
    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "daphne": metadata.version("daphne"),
        "channels": metadata.version("channels"),
        "wrk": wrk_version[0].split(" [")[0] if wrk_version else "unknown",
        "platform": platform.platform(),
        "tuning_env": tuned,
    }


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def table_rows(comparisons: Sequence[Comparison]) -> list[list[str]]:
    rows = []
    for comparison in comparisons:
        for name, figures in (("webhook", comparison.webhook), ("bare", comparison.bare)):
            rows.append(
                [
                    comparison.mode,
                    name,
                    f"{fmt(figures.throughput)}/s",
                    fmt(figures.p50_ms),
                    fmt(figures.p99_ms),
                    fmt(figures.max_ms),
                    f"{figures.errors}/{figures.requests}",
                ]
            )
        r = comparison.ratios
        rows.append(
            [
                comparison.mode,
                "webhook/bare",
                f"{fmt(r['throughput'], 2)}x",
                f"{fmt(r['p50'], 2)}x",
                f"{fmt(r['p99'], 2)}x",
                "",
                "",
            ]
        )
    return rows


HEADERS = ["mode", "endpoint", "throughput", "p50 ms", "p99 ms", "max ms", "errors"]


def text_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    line = "  ".join

    def render(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return line(cells).rstrip()

    return "\n".join([render(HEADERS), line("-" * w for w in widths), *map(render, rows)])


def markdown_table(
    rows: Sequence[Sequence[str]], checks: Sequence[TargetCheck], facts: dict[str, Any]
) -> str:
    out = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {facts['cpu_count']} cores, Python "
        f"{facts['python']}, Django {facts['django']}, daphne {facts['daphne']} (`make bench`).",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(HEADERS) - 2)) + "|",
        *("| " + " | ".join(cell or " " for cell in row) + " |" for row in rows),
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {c.name} | {c.measured} | {'PASS' if c.passed else 'MISS'} |" for c in checks),
    ]
    return "\n".join(out)


def run_details(results: Results) -> list[str]:
    webhook = [f"{fmt(run.throughput)}/s" for run in results.flat_webhook]
    bare = [f"{fmt(run.throughput)}/s" for run in results.flat_bare]
    in_order = [f"webhook {webhook[0]}", f"bare {bare[0]}", f"webhook {webhook[-1]}"]
    drains = ", ".join(
        f"{d.seconds:.1f} s for {d.messages} messages ({d.faq_answers} FAQ answers)"
        for d in results.flat_drains
    )
    open_drains = ", ".join(f"{d.seconds:.1f} s" for d in results.open_drains)
    lags = ", ".join(
        f"{run.max_send_lag_ms:.1f}" for run in [*results.open_webhook, *results.open_bare]
    )
    bot_lines = []
    if results.bot is not None:
        bot = results.bot
        bot_lines.append(
            f"Bot latency beyond the bot's {bot.bot_delay_ms:g} ms ({bot.rate:g}/s for "
            f"{bot.seconds:g} s, {bot.routing_threads} routing threads, HTTP bot): p50 "
            f"{fmt(bot.percentile(0.5))} ms, p90 {fmt(bot.percentile(0.9))} ms, p99 "
            f"{fmt(bot.percentile(0.99))} ms, max {fmt(max(bot.added_ms, default=math.nan))} ms"
        )
    pg_lines = bench_scale.details(results.postgres) if results.postgres is not None else []
    return [
        *bot_lines,
        *pg_lines,
        f"Flat-out runs in order: {', '.join(in_order)}",
        "Background drain after each flat-out webhook run (every message routed, every "
        f"reply accepted by the stand-in Braze): {drains}",
        f"Drain after each open-loop webhook run (0.1 s resolution): {open_drains}",
        f"Open-loop generator's worst lag behind its schedule (ms): {lags}",
    ]


def print_report(
    options: Options,
    facts: dict[str, Any],
    comparisons: Sequence[Comparison],
    checks: Sequence[TargetCheck],
    results: Results,
    errors: Sequence[str],
) -> None:
    rows = table_rows(comparisons)
    if results.postgres is not None:
        rows += bench_scale.table_rows(results.postgres)
    print()
    print(
        f"handoff bench: {facts['cpu_count']} cores (load {facts['load_average']}), "
        f"Python {facts['python']}, Django {facts['django']}, daphne {facts['daphne']}, "
        f"{facts['wrk']}"
    )
    print(
        f"flat out: wrk, {options.connections} connections, {options.seconds:g} s per run; "
        f"open loop: {options.rate:g} requests/s for {options.seconds:g} s per run; "
        f"order webhook, bare, webhook"
    )
    if results.postgres is not None:
        print(bench_scale.layout_line(results.postgres, facts))
    if facts["tuning_env"]:
        print(f"tuning from the environment: {facts['tuning_env']}")
    print()
    print(text_table(rows))
    print(
        "webhook/bare: throughput 1.00x = as many requests as the bare view (higher is "
        "better); latency 1.00x = no slower (lower is better)"
    )
    print()
    for line in run_details(results):
        print(line)
    print()
    print("Targets (reported, not asserted):")
    for check in checks:
        print(f"  [{'PASS' if check.passed else 'MISS'}] {check.name}: {check.measured}")
    for line in errors:
        print(line, file=sys.stderr)
    print()
    print("Markdown for docs/benchmarks.md:")
    print()
    print(markdown_table(rows, checks, facts))


def without_nan(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be measured is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value


def write_json(
    options: Options,
    facts: dict[str, Any],
    comparisons: Sequence[Comparison],
    checks: Sequence[TargetCheck],
    results: Results,
    errors: Sequence[str],
) -> Path:
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": asdict(options),
        "environment": facts,
        "comparisons": {
            c.mode: {"webhook": asdict(c.webhook), "bare": asdict(c.bare), "ratios": c.ratios}
            for c in comparisons
        },
        "targets": [asdict(check) for check in checks],
        "runs": {
            "flat_out_webhook": [
                asdict(run) | {"throughput": run.throughput} for run in results.flat_webhook
            ],
            "flat_out_bare": [
                asdict(run) | {"throughput": run.throughput} for run in results.flat_bare
            ],
            "open_loop_webhook": [run.summary() for run in results.open_webhook],
            "open_loop_bare": [run.summary() for run in results.open_bare],
        },
        "drain_after_flat_out_webhook": [asdict(drain) for drain in results.flat_drains],
        "drain_after_open_loop_webhook": [asdict(drain) for drain in results.open_drains],
        "bot_latency": results.bot.summary() if results.bot is not None else None,
        "postgres": (
            bench_scale.summary(results.postgres) if results.postgres is not None else None
        ),
        "errors": list(errors),
    }
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(without_nan(document), indent=2, ensure_ascii=False) + "\n")
    return RESULTS_PATH


# -- main ------------------------------------------------------------------------------


def measure(children: Subprocesses, wrk: str, options: Options) -> Results:
    results = Results()
    with (
        running_stack(children) as stack,
        tempfile.TemporaryDirectory(prefix="handoff-wrk-") as scripts,
    ):
        harness = Harness(children, wrk, stack, options, Path(scripts))
        print(f"server up on {stack.app.url}; warming up ...", flush=True)
        warm_up(harness)
        flat_out_phase(harness, results)
        open_loop_phase(harness, results)
        leftover = leftover_work(stack.database)
        if any(leftover.values()):
            raise BenchError(f"the workers left work behind: {leftover}")
        bot_latency_phase(children, stack, options, results)
    if options.postgres:
        results.postgres = bench_scale.postgres_phase(children, wrk, options)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    raise_on_sigterm()
    children = Subprocesses()
    try:
        if options.postgres:
            bench_scale.require_servers()
        wrk = require_wrk(children)
        facts = environment_facts(wrk)
        if options.postgres:
            facts |= bench_scale.server_versions()
        results = measure(children, wrk, options)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        print("bench stopped by SIGTERM", file=sys.stderr)
        raise
    finally:
        children.stop_all()
    comparisons = [
        Comparison("flat out", flat_figures(results.flat_webhook), flat_figures(results.flat_bare)),
        Comparison(
            f"open loop {options.rate:g}/s",
            open_figures(results.open_webhook),
            open_figures(results.open_bare),
        ),
    ]
    checks = check_targets(*comparisons, rate=options.rate, bot=results.bot)
    errors, fatal = error_report(results)
    print_report(options, facts, comparisons, checks, results, errors)
    print(
        f"\nFigures written to {write_json(options, facts, comparisons, checks, results, errors)}"
    )
    if fatal:
        print(
            f"bench failed: more than {MAX_ERROR_FRACTION:.1%} of requests in a run failed "
            "(see the !! lines above)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    # `python -m` runs this file as __main__, while bench_scale imports it as
    # tests.devtools.bench: run that copy, so both raise and catch one BenchError.
    from tests.devtools.bench import main as bench_main

    raise SystemExit(bench_main())
