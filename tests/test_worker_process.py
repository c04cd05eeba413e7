"""`manage.py run_workers`: the same background work in a process of its own."""

import signal
import subprocess
import sys

import pytest

from handoff.models import Message
from handoff.services.outbound import queue_outbound
from tests.conftest import ARTIFACTS, wait_until
from tests.support.factories import make_conversation
from tests.support.servers import ROOT, server_env


@pytest.fixture
def web_server_stopped(app_server):
    """Stop the shared server (whose embedded workers would race ours), restart after."""
    app_server.stop()
    yield
    app_server.start()


def test_a_separate_worker_process_delivers_and_stops_cleanly(
    web_server_stopped, session_braze, transactional_db
):
    from django.db import connection

    session_braze.clear()
    session_braze.set_behaviour("ok")
    env = server_env(connection.settings_dict, session_braze.url)
    log = open(ARTIFACTS / "run_workers.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_workers",
            "--routing-threads",
            "1",
            "--delivery-threads",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        message = queue_outbound(
            conversation=make_conversation(external_id="proc-1"),
            text="from a worker process",
            author_kind="agent",
        )
        wait_until(
            lambda: Message.objects.get(pk=message.pk).delivery_state == "sent",
            timeout=15,
            message="the worker process did not deliver",
        )
        assert [m["external_user_id"] for m in session_braze.sent_messages()] == ["proc-1"]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(15)
        log.close()
    assert code == 0


def test_the_procfile_worker_idles_while_the_web_process_runs_the_work(tmp_path):
    """The one-process default: `worker: run_workers --unless-embedded` must neither
    compete with the web process's threads nor exit (honcho would stop everything)."""
    env = server_env({"ENGINE": "sqlite3", "NAME": str(tmp_path / "unused.sqlite3")}, "http://x")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_workers", "--unless-embedded"],
        cwd=ROOT,
        env={**env, "HANDOFF_EMBEDDED_WORKERS": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = worker.stdout.readline()
        assert "this worker idles" in first_line
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0
