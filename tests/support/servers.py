"""The app under daphne as a real subprocess on a free loopback port.

Tests that need the real thing (HTTP, background workers, SIGKILL) start it here,
pointed at the test database and at a stand-in Braze.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "test-webhook-secret"
BRAZE_API_KEY = "test-braze-key"
CAMPAIGN_ID = "test-campaign"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_path: str, braze_url: str, **overrides: str) -> dict[str, str]:
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
        "DATABASE_URL": f"sqlite:///{database_path}",
        "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BRAZE_REST_ENDPOINT": braze_url,
        "BRAZE_API_KEY": BRAZE_API_KEY,
        "BRAZE_CAMPAIGN_ID": CAMPAIGN_ID,
        "HANDOFF_POLL_SECONDS": "0.2",
        "HANDOFF_RETRY_BASE_SECONDS": "0.2",
        "HANDOFF_RETRY_MAX_SECONDS": "1.0",
        "HANDOFF_CLAIM_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


class AppServer:
    """`daphne handoff.asgi:application` in a subprocess; restartable after a kill."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "AppServer":
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process's lifetime
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "handoff.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"daphne exited early; see {self.log_path}:\n{tail}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not become healthy; see {self.log_path}")

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
