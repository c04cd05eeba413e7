"""The Braze stand-in, driven over a real loopback socket as handoff's client will drive it.

No Django here: the stand-in must run without settings.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devtools.braze_standin import BrazeStandin

API_KEY = "test-key-9f2c"
SEND = "/campaigns/trigger/send"
TRACK = "/users/track"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback must never go through a proxy from the environment
        yield session


@pytest.fixture
def standin() -> Iterator[BrazeStandin]:
    with BrazeStandin(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for handoff's webhook view, recording what the stand-in forwards to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            answer = b'{"status": "queued"}'
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/braze/", received
    server.shutdown()
    server.server_close()
    thread.join()


def send_body(*user_ids: str, text: str = "Hello from the bot") -> dict[str, Any]:
    return {
        "campaign_id": "campaign-1",
        "recipients": [
            {"external_user_id": user_id, "trigger_properties": {"external_system_msg_body": text}}
            for user_id in user_ids
        ],
    }


def post(
    http: requests.Session, standin: BrazeStandin, path: str, body: Any, key: str = API_KEY
) -> requests.Response:
    return http.post(
        standin.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def statuses(http: requests.Session, standin: BrazeStandin, n: int) -> list[int]:
    return [post(http, standin, SEND, send_body("u1")).status_code for _ in range(n)]


# -- /campaigns/trigger/send ---------------------------------------------------------


def test_valid_send_is_201_and_recorded_with_the_exact_body(standin, http):
    body = send_body("customer-1", text='Quotes " and <b>tags</b> stay as sent')

    before = time.time()
    response = post(http, standin, SEND, body)
    after = time.time()

    assert response.status_code == 201
    answer = response.json()
    assert answer["message"] == "success"
    assert len(answer["dispatch_id"]) == 32
    assert int(response.headers["X-RateLimit-Limit"]) == 250_000
    assert int(response.headers["X-RateLimit-Remaining"]) < 250_000
    # The end of the clock hour the request was in: after `before`, whenever the check runs.
    assert int(response.headers["X-RateLimit-Reset"]) > before
    [record] = standin.requests()
    assert record["method"] == "POST"
    assert record["path"] == SEND
    assert record["body"] == body
    assert record["status"] == 201
    assert record["dispatch_id"] == answer["dispatch_id"]
    assert record["headers"]["Content-Type"] == "application/json"
    assert before <= record["at"] <= after
    assert standin.sent_messages() == [
        {
            "external_user_id": "customer-1",
            "campaign_id": "campaign-1",
            "trigger_properties": {
                "external_system_msg_body": body["recipients"][0]["trigger_properties"][
                    "external_system_msg_body"
                ]
            },
            "status": 201,
            "dispatch_id": answer["dispatch_id"],
            "at": record["at"],
        }
    ]


def test_recipient_properties_are_merged_over_top_level_ones(standin, http):
    body = {
        "campaign_id": "campaign-1",
        "trigger_properties": {"greeting": "hi", "external_system_msg_body": "shared"},
        "recipients": [
            {"external_user_id": "a", "trigger_properties": {"external_system_msg_body": "for a"}},
            {"external_user_id": "b"},
        ],
    }

    assert post(http, standin, SEND, body).status_code == 201

    assert [m["trigger_properties"] for m in standin.sent_messages()] == [
        {"greeting": "hi", "external_system_msg_body": "for a"},
        {"greeting": "hi", "external_system_msg_body": "shared"},
    ]


def test_fifty_recipients_are_accepted_and_fifty_one_are_400(standin, http):
    fifty = send_body(*[f"user-{i}" for i in range(50)])
    fifty_one = send_body(*[f"user-{i}" for i in range(51)])

    assert post(http, standin, SEND, fifty).status_code == 201
    too_many = post(http, standin, SEND, fifty_one)

    assert too_many.status_code == 400
    assert "50" in too_many.json()["message"]
    assert [r["status"] for r in standin.requests()] == [201, 400]
    assert len(standin.sent_messages()) == 50


@pytest.mark.parametrize(
    "body",
    [
        {"recipients": [{"external_user_id": "u1"}]},
        {"campaign_id": 42, "recipients": [{"external_user_id": "u1"}]},
        {"campaign_id": "campaign-1", "recipients": []},
        {"campaign_id": "campaign-1", "recipients": [{"trigger_properties": {}}]},
        {"campaign_id": "campaign-1", "recipients": [{"external_user_id": "u1", "email": "a@b"}]},
        {
            "campaign_id": "campaign-1",
            "recipients": [{"external_user_id": "u1", "trigger_properties": "text"}],
        },
        ["not", "an", "object"],
    ],
    ids=[
        "no-campaign",
        "campaign-not-string",
        "no-recipients",
        "no-identifier",
        "two-identifiers",
        "properties-not-object",
        "body-not-object",
    ],
)
def test_invalid_send_is_400_and_sends_nothing(standin, http, body):
    response = post(http, standin, SEND, body)

    assert response.status_code == 400
    assert response.json()["message"]
    assert standin.requests()[0]["status"] == 400
    assert standin.sent_messages() == []


def test_unknown_campaign_id_is_400_when_campaign_ids_are_configured(http):
    with BrazeStandin(api_key=API_KEY, campaign_ids=["campaign-1"]) as standin:
        known = post(http, standin, SEND, send_body("u1"))
        unknown = post(http, standin, SEND, {**send_body("u1"), "campaign_id": "typo"})

    assert known.status_code == 201
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Invalid Campaign ID"


def test_wrong_or_missing_key_is_401_and_the_key_is_never_echoed_or_recorded(standin, http):
    wrong = post(http, standin, SEND, send_body("u1"), key="not-the-key")
    missing = http.post(standin.url + SEND, json=send_body("u1"), timeout=10)
    right = post(http, standin, SEND, send_body("u1"))

    assert wrong.status_code == 401
    assert wrong.json()["message"].startswith("Invalid API key")
    assert "not-the-key" not in wrong.text
    assert missing.status_code == 401
    assert right.status_code == 201
    recorded = json.dumps(standin.requests())
    assert API_KEY not in recorded and "not-the-key" not in recorded
    assert standin.requests()[2]["headers"]["Authorization"] == "Bearer ***"


def test_any_bearer_token_is_accepted_when_no_key_is_configured(http):
    with BrazeStandin() as standin:
        assert post(http, standin, SEND, send_body("u1"), key="anything").status_code == 201
        assert post(http, standin, SEND, send_body("u1"), key="").status_code == 401


def test_unknown_path_is_404_and_recorded(standin, http):
    response = post(http, standin, "/messages/send", send_body("u1"))

    assert response.status_code == 404
    assert standin.requests("/messages/send")[0]["status"] == 404


# -- failure injection ---------------------------------------------------------------


def test_error500_with_count_answers_500_twice_then_201(standin, http):
    standin.set_behaviour("error500", count=2)

    assert statuses(http, standin, 3) == [500, 500, 201]
    assert [r["status"] for r in standin.requests()] == [500, 500, 201]
    assert len(standin.sent_messages()) == 1
    assert standin.behaviour()["mode"] == "ok"


def test_error500_with_seconds_stops_after_that_time(standin, http):
    standin.set_behaviour("error500", seconds=0.3)

    assert statuses(http, standin, 2) == [500, 500]
    time.sleep(0.35)
    assert statuses(http, standin, 1) == [201]


def test_rate_limit_answers_429_with_reset_about_now_plus_reset_in(standin, http):
    standin.set_behaviour("rate_limit", count=1, reset_in=3)

    before = time.time()
    limited = post(http, standin, SEND, send_body("u1"))
    after = time.time()

    assert limited.status_code == 429
    assert limited.json() == {"message": "Rate Limited"}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # Braze's reset is whole Unix seconds: reset_in after the request, rounded up.
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert math.ceil(before + 3) <= reset <= math.ceil(after + 3)
    assert post(http, standin, SEND, send_body("u1")).status_code == 201


def test_slow_delays_at_least_delay_then_answers_normally(http):
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with BrazeStandin(api_key=API_KEY, sleep=sleep) as standin:
        standin.set_behaviour("slow", delay=0.4, count=1)
        started = time.monotonic()
        slow = post(http, standin, SEND, send_body("u1"))
        slow_elapsed = time.monotonic() - started
        assert slept == [0.4]
        fast = post(http, standin, SEND, send_body("u1"))

    assert slow.status_code == 201
    assert slow_elapsed >= 0.4  # a real sleep: never shorter, however busy the machine
    assert fast.status_code == 201
    assert slept == [0.4]  # the second request was not delayed at all


def test_unauthorized_mode_rejects_even_the_right_key(standin, http):
    standin.set_behaviour("unauthorized", count=1)

    rejected = post(http, standin, SEND, send_body("u1"))

    assert rejected.status_code == 401
    assert rejected.json() == {"message": "Invalid API key"}
    assert post(http, standin, SEND, send_body("u1")).status_code == 201


def test_fail_ratio_fails_about_that_fraction_and_repeats_with_the_same_seed(standin, http):
    standin.set_behaviour("fail_ratio", ratio=0.3, seed=11)
    first = statuses(http, standin, 200)
    standin.set_behaviour("fail_ratio", ratio=0.3, seed=11)
    second = statuses(http, standin, 200)

    assert set(first) == {201, 500}
    assert 40 <= first.count(500) <= 80
    assert first == second


def test_a_count_is_honoured_exactly_under_concurrent_requests(standin):
    standin.set_behaviour("error500", count=10)

    def one(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            return post(session, standin, SEND, send_body("u1")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(40)))

    assert answers.count(500) == 10
    assert answers.count(201) == 30


def test_set_behaviour_rejects_nonsense(standin):
    with pytest.raises(ValueError, match="mode"):
        standin.set_behaviour("flaky")
    with pytest.raises(ValueError, match="count"):
        standin.set_behaviour("error500", count=0)
    with pytest.raises(ValueError, match="ratio"):
        standin.set_behaviour("fail_ratio", ratio=1.5)
    assert standin.behaviour()["mode"] == "ok"


# -- /users/track --------------------------------------------------------------------


def test_users_track_accepts_75_attributes_and_rejects_76(standin, http):
    def attributes(n: int) -> dict[str, Any]:
        return {"attributes": [{"external_id": f"u{i}", "chat_topic": "billing"} for i in range(n)]}

    accepted = post(http, standin, TRACK, attributes(75))
    rejected = post(http, standin, TRACK, attributes(76))

    assert accepted.status_code == 201
    assert accepted.json() == {"message": "success", "attributes_processed": 75}
    assert rejected.status_code == 400
    assert "75" in rejected.json()["message"]
    assert [r["status"] for r in standin.requests(TRACK)] == [201, 400]
    assert standin.requests(TRACK)[0]["body"] == attributes(75)


def test_users_track_needs_a_user_identifier(standin, http):
    response = post(http, standin, TRACK, {"attributes": [{"chat_topic": "billing"}]})

    assert response.status_code == 400
    assert "external_id" in response.json()["message"]


# -- control endpoints and page ------------------------------------------------------


def test_control_endpoints_work_over_http(standin, http):
    control = standin.url + "/_standin"

    assert http.get(control + "/health", timeout=5).status_code == 200
    switched = http.post(control + "/behaviour", json={"mode": "error500", "count": 1}, timeout=5)
    assert switched.status_code == 200
    assert switched.json()["mode"] == "error500"
    assert http.get(control + "/behaviour", timeout=5).json()["remaining"] == 1
    assert http.post(control + "/behaviour", json={"mode": "flaky"}, timeout=5).status_code == 400
    unknown_key = http.post(control + "/behaviour", json={"mode": "ok", "cont": 1}, timeout=5)
    assert unknown_key.status_code == 400
    not_json = http.post(control + "/behaviour", data='{"mode": "ok"}', timeout=5)
    assert not_json.status_code == 415

    assert post(http, standin, SEND, send_body("u1")).status_code == 500
    assert post(http, standin, TRACK, {"events": [{"external_id": "u1"}]}).status_code == 201

    everything = http.get(control + "/requests", timeout=5).json()
    sends = http.get(control + "/requests", params={"path": SEND}, timeout=5).json()
    assert [(r["path"], r["status"]) for r in everything] == [(SEND, 500), (TRACK, 201)]
    assert [r["path"] for r in sends] == [SEND]

    cleared = http.delete(control + "/requests", timeout=5)
    assert cleared.status_code == 200
    assert cleared.json() == {"cleared": 2}
    assert http.get(control + "/requests", timeout=5).json() == []
    assert standin.requests() == []


def test_page_and_its_script_are_served_and_never_use_inner_html(standin, http):
    page = http.get(standin.url + "/", timeout=5)
    script = http.get(standin.url + "/_standin/page.js", timeout=5)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    text = page.text
    assert "<title>Braze stand-in</title>" in text
    assert '<script type="module" src="/_standin/page.js"></script>' in text
    for source in (text, script.text):
        assert "innerHTML" not in source
        assert "outerHTML" not in source and "insertAdjacentHTML" not in source
    assert "textContent" in script.text
    assert "/_standin/requests" in script.text and "/_standin/inbound" in script.text
    for mode in ("ok", "error500", "rate_limit", "unauthorized", "slow"):
        assert f'data-mode="{mode}"' in text
    assert "Forwarding is not configured" in text
    assert "data-reply-campaign" not in text
    # Nothing from elsewhere: the page works on a machine without a network.
    assert text.count("src=") == 1 and '<link rel="stylesheet"' not in text
    assert standin.requests() == []  # page loads and polling are not Braze traffic


def test_page_escapes_the_webhook_url_and_the_reply_campaign():
    with BrazeStandin(
        webhook_url="http://127.0.0.1:1/<script>", reply_campaign_id='c"><script>'
    ) as standin:
        text = requests.get(standin.url + "/", timeout=5).text

    assert "http://127.0.0.1:1/&lt;script&gt;" in text
    assert 'data-reply-campaign="c&quot;&gt;&lt;script&gt;"' in text
    assert "Forwarding is not configured" not in text


def test_a_running_standin_can_be_pointed_at_a_webhook_but_only_over_http(standin):
    with pytest.raises(ValueError, match="http"):
        standin.set_webhook("file:///etc/passwd")
    standin.set_webhook("http://127.0.0.1:1/hook", "secret")

    assert standin.webhook_url == "http://127.0.0.1:1/hook"
    assert "Posts to http://127.0.0.1:1/hook" in requests.get(standin.url + "/", timeout=5).text


# -- customer simulator --------------------------------------------------------------


def test_inbound_is_forwarded_like_a_braze_webhook(http, webhook):
    url, received = webhook
    with BrazeStandin(webhook_url=url, webhook_secret="hook-secret") as standin:
        customer = {
            "user_id": "customer-1",
            "phone_number": "+15555550100",
            "name": "Ada",
            "message": 'Hi "there"\nsecond line',
        }
        response = http.post(standin.url + "/_standin/inbound", json=customer, timeout=10)
        recorded = standin.requests("/_standin/inbound")

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == 202
    assert answer["body"] == {"status": "queued"}
    [forwarded] = received
    assert forwarded["path"] == "/webhooks/braze/"
    assert forwarded["headers"]["Authorization"] == "Bearer hook-secret"
    assert forwarded["headers"]["Content-Type"] == "application/json"
    message_id = forwarded["body"].pop("message_id")
    assert forwarded["body"] == customer
    assert len(message_id) == 32 and message_id == answer["message_id"]
    assert recorded[0]["forwarded_status"] == 202
    assert recorded[0]["message_id"] == message_id
    assert "hook-secret" not in json.dumps(recorded)


def test_inbound_gives_each_message_a_new_message_id(http, webhook):
    url, received = webhook
    with BrazeStandin(webhook_url=url) as standin:
        for _ in range(2):
            http.post(
                standin.url + "/_standin/inbound",
                json={"user_id": "c1", "message": "again"},
                timeout=10,
            )

    assert len({r["body"]["message_id"] for r in received}) == 2
    assert "Authorization" not in received[0]["headers"]


def test_inbound_is_409_without_a_webhook_url(standin, http):
    response = http.post(
        standin.url + "/_standin/inbound", json={"user_id": "c1", "message": "hello"}, timeout=5
    )

    assert response.status_code == 409
    assert "not configured" in response.json()["message"]


def test_inbound_is_502_when_the_webhook_is_unreachable(http):
    with BrazeStandin() as probe:
        dead_url = probe.url + "/gone"  # nothing listens here once the probe stops
    with BrazeStandin(webhook_url=dead_url) as standin:
        response = http.post(
            standin.url + "/_standin/inbound",
            json={"user_id": "c1", "message": "hello"},
            timeout=10,
        )

    assert response.status_code == 502


def test_inbound_rejects_a_message_without_user_id(http, webhook):
    url, received = webhook
    with BrazeStandin(webhook_url=url) as standin:
        response = http.post(
            standin.url + "/_standin/inbound", json={"message": "hello"}, timeout=5
        )

    assert response.status_code == 400
    assert received == []


# -- Python helpers --------------------------------------------------------------------


def test_wait_for_returns_once_a_message_arrives(standin, http):
    sender = threading.Timer(0.2, lambda: post(http, standin, SEND, send_body("late")))
    sender.start()
    try:
        messages = standin.wait_for(
            lambda sent: any(m["external_user_id"] == "late" for m in sent), timeout=5
        )
    finally:
        sender.join()

    assert [m["external_user_id"] for m in messages] == ["late"]


def test_wait_for_times_out_with_what_was_seen(standin, http):
    standin.set_behaviour("error500", count=1)
    post(http, standin, SEND, send_body("u1"))

    with pytest.raises(TimeoutError) as raised:
        standin.wait_for(lambda sent: len(sent) > 0, timeout=0.2)

    assert "0 message(s) accepted" in str(raised.value)
    assert f"POST {SEND} -> 500" in str(raised.value)


def test_clear_forgets_everything(standin, http):
    post(http, standin, SEND, send_body("u1"))

    assert standin.clear() == 1
    assert standin.requests() == [] and standin.sent_messages() == []


# -- command line ----------------------------------------------------------------------


def test_command_line_serves_until_sigterm_without_printing_the_key(http):
    env = {**os.environ, "BRAZE_STANDIN_PORT": "0", "BRAZE_API_KEY": "secret-from-env"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.devtools.braze_standin"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("Braze stand-in listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert http.get(url + "/_standin/health", timeout=5).status_code == 200
        wrong = http.post(
            url + SEND, json=send_body("u1"), headers={"Authorization": "Bearer nope"}, timeout=5
        )
        right = http.post(
            url + SEND,
            json=send_body("u1"),
            headers={"Authorization": "Bearer secret-from-env"},
            timeout=5,
        )
        assert (wrong.status_code, right.status_code) == (401, 201)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)

    assert process.returncode == 0
    assert "secret-from-env" not in line + out + err
