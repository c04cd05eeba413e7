"""The app under daphne as a real subprocess on a free loopback port.

Tests that need the real thing (HTTP, background workers, SIGKILL) start it here,
pointed at the test database and at a stand-in Braze.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "test-webhook-secret"
BRAZE_API_KEY = "test-braze-key"
CAMPAIGN_ID = "test-campaign"
# GET /metrics is on in the servers tests start (tests/test_metrics.py scrapes it).
METRICS_TOKEN = "test-metrics-token"


def procfile_command(process: str, **variables: str) -> list[str]:
    """A Procfile line as honcho runs it: `${NAME:-default}` filled from `variables`,
    `python` as this interpreter."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            break
    else:
        raise RuntimeError(f"the Procfile has no {process}: line")
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1], m[2]), command.strip())
    words = shlex.split(command)
    return [sys.executable, *words[1:]] if words[0] == "python" else words


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """The URL of the database a Django connection uses (the test database), so the
    app under daphne shares it whichever engine the suite runs on."""
    name = settings_dict["NAME"]
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    if "postgresql" not in settings_dict["ENGINE"]:
        raise RuntimeError(f"tests know SQLite and PostgreSQL, not {settings_dict['ENGINE']}")
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(name, safe='')}"


def server_env(database: dict, braze_url: str, **overrides: str) -> dict[str, str]:
    """The app's environment: the test database (a connection's settings_dict), the
    stand-in Braze, short timings; REDIS_URL passes through when the suite has one."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "handoff.settings",
        "HANDOFF_EMBEDDED_WORKERS": "true",
        "DEBUG": "false",
        "SECRET_KEY": "test-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url(database),
        "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BRAZE_REST_ENDPOINT": braze_url,
        "BRAZE_API_KEY": BRAZE_API_KEY,
        "BRAZE_CAMPAIGN_ID": CAMPAIGN_ID,
        "HANDOFF_METRICS_TOKEN": METRICS_TOKEN,
        "HANDOFF_POLL_SECONDS": "0.2",
        "HANDOFF_RETRY_BASE_SECONDS": "0.2",
        "HANDOFF_RETRY_MAX_SECONDS": "1.0",
        "HANDOFF_CLAIM_SECONDS": "5",
        # An agent whose last socket closed is announced offline about a second later.
        "HANDOFF_OFFLINE_GRACE_SECONDS": "1",
        # As in the test process (tests/settings.py): on only where a test turns it on.
        "HANDOFF_AUTO_ASSIGN": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


STARTUP_SECONDS = 60.0


def wait_healthy(process: subprocess.Popen, url: str, timeout: float) -> bool:
    """Wait until `url`/healthz answers 200: True then, False if the process exited
    first; a RuntimeError when it never does within `timeout` seconds, saying what it
    last answered and, on PostgreSQL, what every session was waiting for."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            answer = requests.get(url + "/healthz", timeout=2)
            if answer.status_code == 200:
                return True
            last = f"{answer.status_code} {answer.text[:300]}"
        except (requests.ConnectionError, requests.Timeout) as error:
            # A server still starting on a busy machine may accept the
            # connection and answer late: that is "not yet", not a failure.
            last = type(error).__name__
        time.sleep(0.1)
    raise RuntimeError(
        f"{url}/healthz did not answer 200 within {timeout:.0f} s; last: {last}"
        + database_sessions()
    )


def database_sessions() -> str:
    """What each PostgreSQL session of the test database is doing and waiting for
    (seen: a restarted server never healthy in whole-suite PostgreSQL runs)."""
    try:
        from django.db import connection

        if connection.vendor != "postgresql":
            return ""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid),"
                " now() - xact_start, left(query, 160) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            rows = cursor.fetchall()
    except Exception as error:  # noqa: BLE001 - a diagnostic must not hide the failure
        return f"; sessions unreadable: {error}"
    return "; sessions:\n" + "\n".join(repr(row) for row in rows)


class AppServer:
    """The Procfile's `web:` process (daphne through `handoff.web.server`) in a subprocess;
    restartable after a kill."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # A ceiling, not an expectation (a start takes about 3 s): a restart in the middle of
    # a PostgreSQL run beside a CPU-heavy job was once still not healthy after 20 s.
    def start(self, timeout: float = STARTUP_SECONDS) -> "AppServer":
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process's lifetime
        self.process = subprocess.Popen(
            procfile_command("web", BIND="127.0.0.1", PORT=str(self.port)),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if not wait_healthy(self.process, self.url, timeout):
            tail = self.log_path.read_text()[-3000:]
            raise RuntimeError(f"daphne exited early; see {self.log_path}:\n{tail}")
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine loses power."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def post_webhook(self, body, *, secret: str = WEBHOOK_SECRET, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {secret}", **kwargs.pop("headers", {})}
        if isinstance(body, dict | list):
            return requests.post(
                self.url + "/webhooks/braze/whatsapp/",
                json=body,
                headers=headers,
                timeout=10,
                **kwargs,
            )
        return requests.post(
            self.url + "/webhooks/braze/whatsapp/", data=body, headers=headers, timeout=10, **kwargs
        )


class WorkerProcess:
    """`manage.py run_workers` in a subprocess, as the Procfile's `worker:` runs it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = STARTUP_SECONDS) -> "WorkerProcess":
        self.log_path.write_text("")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_workers"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"run_workers exited early:\n{self.log_path.read_text()[-3000:]}"
                )
            if "Workers running" in self.log_path.read_text():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"run_workers did not start; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: leases stay behind, as after a crash or an OOM kill."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


NGINX = Path("/usr/sbin/nginx")


class Nginx:
    """Debian's nginx on a free loopback port, in front of `upstream` with the site
    file operators include (deploy/nginx/handoff.conf), as docs/deploy.md sets it up:
    plain HTTP here (TLS changes nothing about the limits), and the timeouts given."""

    def __init__(
        self, upstream_port: int, workdir: Path, *, header_timeout: float, body_timeout: float
    ):
        self.port = free_port()
        self.workdir = workdir
        self.upstream_port = upstream_port
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        work = self.workdir
        return f"""
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 2048; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream handoff_web {{ server 127.0.0.1:{self.upstream_port}; }}
    server {{
        listen 127.0.0.1:{self.port};
        client_header_timeout {self.header_timeout}s;
        client_body_timeout {self.body_timeout}s;
        include {ROOT}/deploy/nginx/handoff.conf;
    }}
}}
"""

    def start(self, timeout: float = 20.0) -> "Nginx":
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "nginx.conf").write_text(self.config())
        command = [str(NGINX), "-p", str(self.workdir), "-c", "nginx.conf", "-e", "error.log"]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)  # noqa: S603
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its configuration:\n{check.stderr}")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [*command, "-g", "daemon off; master_process off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        if not wait_healthy(self.process, self.url, timeout):
            raise RuntimeError(f"nginx exited early; see {self.workdir}/error.log")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
