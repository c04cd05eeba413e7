"""The inbound webhook against bad input, over real HTTP to the app under daphne.

Every rejected request must answer the exact status with a JSON body of the one
documented shape, `{"error": "<sentence>", "fields": {name: problem}}`, and store
nothing. Text that is odd but legitimate (HTML, Japanese, emoji, quotes, new lines,
the longest allowed message) must be accepted and stored byte for byte.

The last test sends a burst of bad requests and then checks that the server still
answers a valid one: keep it at the end of the module.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from handoff.models import Contact, Conversation, Message
from tests.support.servers import WEBHOOK_SECRET

pytestmark = pytest.mark.server

PATH = "/webhooks/braze/whatsapp/"
MAX_BYTES = 64 * 1024
PHONE = "+819012345678"
NO_AUTH = object()  # sentinel: send no Authorization header at all


def body(**fields) -> dict:
    """A valid body, changed by `fields` (a value of `...` removes the key)."""
    data = {"user_id": "u-bad", "phone_number": PHONE, "message": "hello"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not ...}


def raw(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def padded_to(size: int) -> bytes:
    """A valid JSON body of exactly `size` bytes (white space after the object)."""
    encoded = raw(body(user_id="u-size", message="sized"))
    assert len(encoded) < size
    return encoded + b" " * (size - len(encoded))


def nested(depth: int) -> bytes:
    """A valid body with an extra key nested `depth` arrays deep."""
    prefix = raw(body(user_id="u-deep"))[:-1]
    return prefix + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Bad:
    """One rejected request and what the answer must say."""

    status: int
    error_has: tuple[str, ...]  # substrings the `error` sentence must contain
    payload: bytes | dict | None = None
    method: str = "POST"
    authorization: object = f"Bearer {WEBHOOK_SECRET}"
    headers: dict = field(default_factory=dict)
    # field name -> substring of its problem; {} means `fields` must be empty.
    fields: dict = field(default_factory=dict)
    response_headers: dict = field(default_factory=dict)

    def send(self, base_url: str) -> requests.Response:
        headers = dict(self.headers)
        if self.authorization is not NO_AUTH:
            headers["Authorization"] = self.authorization
        data = raw(self.payload) if isinstance(self.payload, dict) else self.payload
        return requests.request(
            self.method, base_url + PATH, data=data, headers=headers, timeout=15
        )


def case(id_: str, *args, marks=(), **kwargs):
    return pytest.param(Bad(*args, **kwargs), id=id_, marks=marks)


UNAUTHORIZED = ("Authorization: Bearer",)
# "café" encoded as Latin-1, as a misconfigured sender would post it.
LATIN1 = b'{"user_id":"u","phone_number":"+819012345678","message":"caf\xe9"}'
NOT_JSON = ("not valid JSON", "json_escape")
TOO_LARGE = ("64 KiB",)

BAD_CASES = [
    # --- credentials ------------------------------------------------------------
    case(
        "no-authorization-header",
        401,
        UNAUTHORIZED,
        body(),
        authorization=NO_AUTH,
        response_headers={"WWW-Authenticate": 'Bearer realm="handoff"'},
    ),
    case("wrong-secret", 401, UNAUTHORIZED, body(), authorization="Bearer not-the-secret"),
    case(
        "basic-scheme-with-the-right-secret",
        401,
        UNAUTHORIZED,
        body(),
        authorization=f"Basic {WEBHOOK_SECRET}",
    ),
    case(
        "secret-with-an-extra-char",
        401,
        UNAUTHORIZED,
        body(),
        authorization=f"Bearer {WEBHOOK_SECRET}x",
    ),
    case(
        "secret-missing-its-last-char",
        401,
        UNAUTHORIZED,
        body(),
        authorization=f"Bearer {WEBHOOK_SECRET[:-1]}",
    ),
    case("bearer-without-token", 401, UNAUTHORIZED, body(), authorization="Bearer"),
    case("secret-without-scheme", 401, UNAUTHORIZED, body(), authorization=WEBHOOK_SECRET),
    # --- method -----------------------------------------------------------------
    case("GET", 405, ("Use POST", "GET"), None, method="GET", response_headers={"Allow": "POST"}),
    case("PUT", 405, ("Use POST", "PUT"), body(), method="PUT", response_headers={"Allow": "POST"}),
    case(
        "DELETE",
        405,
        ("Use POST", "DELETE"),
        None,
        method="DELETE",
        response_headers={"Allow": "POST"},
    ),
    case(
        "PATCH",
        405,
        ("Use POST", "PATCH"),
        body(),
        method="PATCH",
        response_headers={"Allow": "POST"},
    ),
    # --- size -------------------------------------------------------------------
    case("1-MB-body", 413, TOO_LARGE, raw(body(message="x" * 1_000_000))),
    case("content-length-64-KiB-plus-1", 413, TOO_LARGE, padded_to(MAX_BYTES + 1)),
    # --- not a JSON object --------------------------------------------------------
    case("not-json", 400, NOT_JSON, b"user_id=u&phone_number=%2B8190&message=hi"),
    case("empty-body", 400, ("body is empty", "JSON object"), b""),
    case("whitespace-only-body", 400, ("body is empty",), b" \r\n\t "),
    case("json-array", 400, ("must be a JSON object", "not an array"), b'[{"user_id": "u"}]'),
    case("json-string", 400, ("must be a JSON object", "not a string"), b'"hello"'),
    case("json-number", 400, ("must be a JSON object", "not a number"), b"42"),
    case("json-null", 400, ("must be a JSON object", "not null"), b"null"),
    case("json-true", 400, ("must be a JSON object", "not a boolean"), b"true"),
    case("invalid-utf8", 400, ("not valid UTF-8", f"position {LATIN1.index(0xE9)}"), LATIN1),
    case(
        "nan-literal",
        400,
        ("not valid JSON", "NaN"),
        b'{"user_id":"u","phone_number":"+819012345678","message":"hi","score":NaN}',
    ),
    case(
        "infinity-literal",
        400,
        ("not valid JSON", "Infinity"),
        b'{"user_id":"u","phone_number":"+819012345678","message":"hi","score":-Infinity}',
    ),
    case(
        "liquid-raw-quote-unterminated-json",
        400,
        NOT_JSON,
        b'{"user_id":"u","phone_number":"+1555","message":"he said "hi""}',
    ),
    case(
        "trailing-comma",
        400,
        NOT_JSON,
        b'{"user_id":"u","phone_number":"+819012345678","message":"hi",}',
    ),
    case(
        "single-quoted-json",
        400,
        NOT_JSON,
        b"{'user_id':'u','phone_number':'+819012345678','message':'hi'}",
    ),
    # --- user_id --------------------------------------------------------------------
    case(
        "user_id-null", 400, ("user_id",), body(user_id=None), fields={"user_id": "may not be null"}
    ),
    case(
        "user_id-number",
        400,
        ("user_id",),
        body(user_id=12345),
        fields={"user_id": "must be a string, not a number"},
    ),
    case(
        "user_id-missing", 400, ("user_id",), body(user_id=...), fields={"user_id": "is required"}
    ),
    case(
        "user_id-empty-string",
        400,
        ("user_id",),
        body(user_id=""),
        fields={"user_id": "may not be empty"},
    ),
    case(
        "user_id-blank", 400, ("user_id",), body(user_id="   "), fields={"user_id": "external_id"}
    ),
    case(
        "user_id-256-chars",
        400,
        ("user_id", "255"),
        body(user_id="u" * 256),
        fields={"user_id": "the limit is 255"},
    ),
    case(
        "user_id-control-char",
        400,
        ("user_id", "control character"),
        body(user_id="u\x01x"),
        fields={"user_id": "U+0001"},
    ),
    case(
        "user_id-newline",
        400,
        ("user_id", "control character"),
        body(user_id="u\nx"),
        fields={"user_id": "control character"},
    ),
    # --- phone_number ----------------------------------------------------------------
    case(
        "phone_number-missing",
        400,
        ("phone_number",),
        body(phone_number=...),
        fields={"phone_number": "is required"},
    ),
    case(
        "phone_number-numeric",
        400,
        ("phone_number",),
        body(phone_number=819012345678),
        fields={"phone_number": "must be a string, not a number"},
    ),
    case(
        "phone_number-abc",
        400,
        ("phone_number",),
        body(phone_number="abc"),
        fields={"phone_number": "must be a phone number"},
    ),
    case(
        "phone_number-too-few-digits",
        400,
        ("phone_number",),
        body(phone_number="+1555"),
        fields={"phone_number": "must be a phone number"},
    ),
    # --- message --------------------------------------------------------------------
    case(
        "message-null-without-media",
        400,
        ("message",),
        body(message=None),
        fields={"message": "may be empty only when media_urls is present"},
    ),
    case(
        "message-missing-without-media",
        400,
        ("message",),
        body(message=...),
        fields={"message": "is required"},
    ),
    case(
        "message-number",
        400,
        ("message",),
        body(message=7),
        fields={"message": "must be a string, not a number"},
    ),
    case(
        "message-list",
        400,
        ("message",),
        body(message=["hi"]),
        fields={"message": "must be a string, not an array"},
    ),
    case(
        "message-object",
        400,
        ("message",),
        body(message={"text": "hi"}),
        fields={"message": "must be a string, not an object"},
    ),
    case(
        "message-empty-no-media",
        400,
        ("message",),
        body(message=""),
        fields={"message": "is empty and there are no media_urls"},
    ),
    case(
        "message-blank-no-media",
        400,
        ("message",),
        body(message=" \n\t "),
        fields={"message": "is empty and there are no media_urls"},
    ),
    case(
        "message-10000-chars",
        400,
        ("message", "10000", "4096"),
        body(message="a" * 10_000),
        fields={"message": "the limit is 4096"},
    ),
    case(
        "message-4097-chars",
        400,
        ("message", "4097", "4096"),
        body(message="a" * 4097),
        fields={"message": "the limit is 4096"},
    ),
    case(
        "message-NUL",
        400,
        ("message", "U+0000"),
        body(message="hi\x00there"),
        fields={"message": "U+0000"},
    ),
    case(
        "message-BEL",
        400,
        ("message", "U+0007"),
        body(message="ding\x07"),
        fields={"message": "U+0007"},
    ),
    case(
        "message-C1-control-NEL",
        400,
        ("message", "U+0085"),
        body(message="a\x85b"),
        fields={"message": "U+0085"},
    ),
    case(
        "message-lone-surrogate",
        400,
        ("message", "U+D83D"),
        b'{"user_id":"u","phone_number":"+819012345678","message":"half \\ud83d emoji"}',
        fields={"message": "U+D83D"},
    ),
    # --- media_urls -----------------------------------------------------------------
    case(
        "media_urls-not-a-url",
        400,
        ("media_urls",),
        body(media_urls=["not a url"]),
        fields={"media_urls": "not an http(s) URL"},
    ),
    case(
        "media_urls-ftp-scheme",
        400,
        ("media_urls",),
        body(media_urls=["ftp://files.example.com/a.jpg"]),
        fields={"media_urls": "not an http(s) URL"},
    ),
    case(
        "media_urls-number",
        400,
        ("media_urls",),
        body(media_urls=3),
        fields={"media_urls": "must be a list of URLs"},
    ),
    case(
        "media_urls-list-of-numbers",
        400,
        ("media_urls",),
        body(media_urls=[1, 2]),
        fields={"media_urls": "must be a list of URLs"},
    ),
    case(
        "media_urls-21-urls",
        400,
        ("media_urls", "21", "20"),
        body(media_urls=[f"https://cdn.example.com/{n}.jpg" for n in range(21)]),
        fields={"media_urls": "has 21 URLs; the limit is 20"},
    ),
    # --- optional fields --------------------------------------------------------------
    case(
        "message_id-number",
        400,
        ("message_id",),
        body(message_id=123456),
        fields={"message_id": "must be a string, not a number"},
    ),
    case(
        "name-256-chars",
        400,
        ("name", "255"),
        body(name="n" * 256),
        fields={"name": "the limit is 255"},
    ),
    case(
        "topic-object",
        400,
        ("topic",),
        body(topic={"a": 1}),
        fields={"topic": "must be a string, not an object"},
    ),
    case(
        "extra-key-with-control-char",
        400,
        ("campaign",),
        body(campaign="spring\x1bsale"),
        fields={"campaign": "control character"},
    ),
    # --- several problems at once ---------------------------------------------------------
    case(
        "empty-object",
        400,
        ("3 fields are invalid", "message", "phone_number", "user_id"),
        b"{}",
        fields={"user_id": "is required", "phone_number": "is required", "message": "is required"},
    ),
    # --- bodies that once crashed the parser ----------------------------------------------
    case("deeply-nested-array-body", 400, ("nested too deeply",), b"[" * 60_000),
    case(
        "message-nested-2000-deep",
        400,
        ("nested too deeply",),
        b'{"user_id":"u","phone_number":"+819012345678","message":'
        + b"[" * 2000
        + b"]" * 2000
        + b"}",
    ),
    case(
        "extra-key-nested-600-deep",
        400,
        ("deep",),
        nested(600),
        fields={"deep": "is nested more than 20 levels deep"},
    ),
    case(
        "number-overflowing-to-infinity",
        400,
        ("JSON", "out of range"),
        b'{"user_id":"u","phone_number":"+819012345678","message":"hi","score":1e400}',
    ),
]


def assert_clear_error(response: requests.Response, expected: Bad) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    data = response.json()
    assert set(data) == {"error", "fields"}, data
    error = data["error"]
    assert isinstance(error, str)
    assert 10 <= len(error) <= 300, error
    assert "\n" not in error, error
    assert (error[0].isupper() or error[0].isdigit()) and error.endswith("."), error
    for part in expected.error_has:
        assert part in error, f"{part!r} not in {error!r}"
    assert set(data["fields"]) == set(expected.fields), data["fields"]
    for name, problem in expected.fields.items():
        assert problem in data["fields"][name], (name, data["fields"][name])
        assert name in error, f"the sentence does not name {name!r}: {error!r}"
    return data


def assert_nothing_stored() -> None:
    assert (Contact.objects.count(), Conversation.objects.count(), Message.objects.count()) == (
        0,
        0,
        0,
    )


@pytest.mark.parametrize("bad", BAD_CASES)
def test_bad_input_is_rejected_with_a_clear_error_and_nothing_is_stored(live, bad):
    response = bad.send(live.url)

    assert response.status_code == bad.status, response.text[:500]
    assert_clear_error(response, bad)
    for name, value in bad.response_headers.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert_nothing_stored()


def test_body_over_64_KiB_sent_chunked_without_content_length_is_413(live):
    """The declared length is not the only check: a chunked body has none."""
    payload = padded_to(MAX_BYTES + 1000)
    chunks = (payload[i : i + 8192] for i in range(0, len(payload), 8192))

    response = requests.post(
        live.url + PATH,
        data=chunks,
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
        timeout=15,
    )

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413, response.text[:300]
    assert_clear_error(response, Bad(413, TOO_LARGE))
    assert_nothing_stored()


def test_body_of_exactly_64_KiB_is_accepted(live):
    response = live.post_webhook(padded_to(MAX_BYTES))

    assert response.status_code == 200, response.text[:300]
    assert Message.objects.get(direction="in").text == "sized"


# --- accepted and stored exactly as sent ----------------------------------------------

EMOJI = "\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f1ef\U0001f1f5"  # 👩‍👩‍👧 🇯🇵
MEDIA = ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b%20c.png?x=1&y=2"]


@dataclass(frozen=True)
class Good:
    payload: dict | bytes
    text: str
    media_urls: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    path: str = PATH
    user_id: str = "u-good"

    def send(self, base_url: str) -> requests.Response:
        data = raw(self.payload) if isinstance(self.payload, dict) else self.payload
        headers = {
            "Authorization": f"Bearer {WEBHOOK_SECRET}",
            "Content-Type": "application/json",
            **self.headers,
        }
        return requests.post(base_url + self.path, data=data, headers=headers, timeout=15)


def good(id_: str, message: str, *, marks=(), **kwargs):
    payload = kwargs.pop("payload", None) or body(user_id="u-good", message=message)
    return pytest.param(Good(payload, kwargs.pop("text", message), **kwargs), id=id_, marks=marks)


LONGEST = ("あ" + "b" * 8 + "\U0001f600") * 409 + "c" * 6  # 4096 code points, astral included
assert len(LONGEST) == 4096

GOOD_CASES = [
    good("html-bold", "<b>hi</b>"),
    good("script-tag", "<script>alert(1)</script>"),
    good("img-onerror", "<img src=x onerror=alert(1)>"),
    good("japanese", "オペレーターと話したいです"),
    good("emoji-zwj-and-flag", EMOJI),
    good("quotes-and-backslashes", '"quoted" \\ back\\slash'),
    good("newlines-and-tabs", "line1\nline2\tTabbed"),
    good("crlf-and-surrounding-spaces", "  line1\r\nline2  "),
    good("exactly-4096-chars", LONGEST),
    good("line-and-paragraph-separators", "a\u2028b\u2029c"),
    good("json-looking-text", '{"user_id": "evil", "message": null}'),
    good("liquid-json-escaped-quotes", 'he said "hi"'),
    good(
        "empty-message-with-media-list",
        "",
        payload=body(user_id="u-good", message="", media_urls=MEDIA),
        media_urls=MEDIA,
    ),
    good(
        "missing-message-with-media-list",
        "",
        payload=body(user_id="u-good", message=..., media_urls=MEDIA[:1]),
        media_urls=MEDIA[:1],
    ),
    good(
        "extra-4000-digit-integer",
        "big",
        payload=body(user_id="u-good", message="big", order=int("9" * 4000)),
        extra={"order": int("9" * 4000)},
    ),
    good(
        "media_urls-comma-space-string",
        "see attached",
        payload=body(
            user_id="u-good",
            message="see attached",
            media_urls="https://cdn.example.com/1.jpg, https://cdn.example.com/2.jpg "
            "https://cdn.example.com/3.png",
        ),
        media_urls=[
            "https://cdn.example.com/1.jpg",
            "https://cdn.example.com/2.jpg",
            "https://cdn.example.com/3.png",
        ],
    ),
    good(
        "media_urls-bracketed-string",
        "",
        payload=body(
            user_id="u-good",
            message="",
            media_urls='["https://cdn.example.com/1.jpg","https://cdn.example.com/2.jpg"]',
        ),
        media_urls=["https://cdn.example.com/1.jpg", "https://cdn.example.com/2.jpg"],
    ),
    good(
        "unknown-extra-keys-kept",
        "hi",
        payload=body(
            user_id="u-good",
            message="hi",
            campaign="spring",
            nested={"a": [1, 2.5, {"b": None}], "ok": True},
            言語="日本語",
        ),
        extra={
            "campaign": "spring",
            "nested": {"a": [1, 2.5, {"b": None}], "ok": True},
            "言語": "日本語",
        },
    ),
    good("content-type-text-plain", "plain", headers={"Content-Type": "text/plain"}),
    good(
        "content-type-form-urlencoded",
        "form",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    good("no-trailing-slash", "no slash", path="/webhooks/braze/whatsapp"),
    good(
        "utf8-bom",
        "bom",
        payload=b"\xef\xbb\xbf" + raw(body(user_id="u-good", message="bom")),
    ),
    good(
        "lowercase-bearer-scheme",
        "lower",
        headers={"Authorization": f"bearer {WEBHOOK_SECRET}"},
    ),
]


@pytest.mark.parametrize("good_case", GOOD_CASES)
def test_odd_but_valid_input_is_accepted_and_stored_exactly(live, good_case):
    response = good_case.send(live.url)

    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert answer["status"] == "accepted"
    assert answer["duplicate"] is False
    message = Message.objects.get(pk=answer["message_id"])
    assert message.direction == Message.Direction.INBOUND
    assert message.conversation_id == answer["conversation_id"]
    assert message.text.encode("utf-8") == good_case.text.encode("utf-8")
    assert message.text == good_case.text
    assert message.media_urls == good_case.media_urls
    assert message.extra == good_case.extra
    contact = Contact.objects.get()
    assert (contact.external_id, contact.phone_number) == (good_case.user_id, PHONE)
    assert Message.objects.filter(direction="in").count() == 1


def test_name_and_user_id_are_stored_trimmed(live):
    response = live.post_webhook(
        body(user_id="  u-trim  ", name="  Aiko 佐藤 \U0001f338 ", message="  keep me  ")
    )

    assert response.status_code == 200, response.text
    contact = Contact.objects.get()
    assert contact.external_id == "u-trim"
    assert contact.name == "Aiko 佐藤 \U0001f338"
    assert Message.objects.get(direction="in").text == "  keep me  "


# --- keep last: the server still answers after a burst of bad requests -------------------


def test_server_still_answers_a_valid_request_after_a_burst_of_bad_ones(live):
    cases = [param.values[0] for param in BAD_CASES if not param.marks] * 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda bad: bad.send(live.url), cases))

    assert [r.status_code for r in responses] == [bad.status for bad in cases]
    assert_nothing_stored()

    response = live.post_webhook(body(user_id="u-after-burst", message="still there?"))

    assert response.status_code == 200, response.text
    assert response.json()["duplicate"] is False
    message = Message.objects.get(direction="in")
    assert (message.contact.external_id, message.text) == ("u-after-burst", "still there?")
    assert Contact.objects.count() == 1
