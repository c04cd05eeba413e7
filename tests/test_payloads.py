"""handoff.rules.payloads without a server: parse_body and validate, by example and by property.

Hypothesis runs deterministically (derandomize, no example database) and briefly.
"""

import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handoff.rules.payloads import (
    KNOWN_FIELDS,
    MAX_MEDIA_URLS,
    MAX_MESSAGE_CHARS,
    InboundPayload,
    PayloadError,
    parse_body,
    validate,
)

FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

PHONE = "+819012345678"


def valid(**fields) -> dict:
    data = {"user_id": "u-1", "phone_number": PHONE, "message": "hello"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not ...}


def problems_of(data: dict) -> dict[str, str]:
    with pytest.raises(PayloadError) as caught:
        validate(data)
    assert caught.value.fields, "a field error must name its field"
    return caught.value.fields


# --- parse_body by example ----------------------------------------------------------


def test_parse_body_returns_the_object():
    assert parse_body(b'{"user_id": "u", "n": [1, 2.5, null, true]}') == {
        "user_id": "u",
        "n": [1, 2.5, None, True],
    }


def test_parse_body_accepts_a_utf8_bom_and_non_ascii():
    assert parse_body('\ufeff{"m": "オペレーター"}'.encode()) == {"m": "オペレーター"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"", "The body is empty; send a JSON object.", id="empty"),
        pytest.param(b" \n\t", "The body is empty; send a JSON object.", id="blank"),
        pytest.param(b"[]", "The body must be a JSON object, not an array.", id="array"),
        pytest.param(b'"x"', "The body must be a JSON object, not a string.", id="string"),
        pytest.param(b"3.5", "The body must be a JSON object, not a number.", id="number"),
        pytest.param(b"null", "The body must be a JSON object, not null.", id="null"),
        pytest.param(b"false", "The body must be a JSON object, not a boolean.", id="boolean"),
        pytest.param(b"\xff{}", "The body is not valid UTF-8 (bad byte at position 0).", id="utf8"),
        pytest.param(
            b'{"m": "caf\xc3"}',
            "The body is not valid UTF-8 (bad byte at position 10).",
            id="truncated-utf8",
        ),
    ],
)
def test_parse_body_rejections_say_exactly_what_is_wrong(raw, expected):
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    assert caught.value.message == expected
    assert caught.value.fields == {}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"a": NaN}', id="NaN"),
        pytest.param(b'{"a": Infinity}', id="Infinity"),
        pytest.param(b'{"a": -Infinity}', id="-Infinity"),
        pytest.param(b'{"message":"he said "hi""}', id="liquid-raw-quote"),
        pytest.param(b'{"a": 1,}', id="trailing-comma"),
        pytest.param(b'{"a": 1', id="unterminated"),
        pytest.param(b"{'a': 1}", id="single-quotes"),
        pytest.param(b'{"a": 1} {"b": 2}', id="two-objects"),
        pytest.param(b'{"a": ' + b"1" * 5000 + b"}", id="5000-digit-integer"),
    ],
)
def test_parse_body_rejects_what_is_not_strict_json_and_points_to_json_escape(raw):
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    assert caught.value.message.startswith("The body is not valid JSON (")
    assert "json_escape" in caught.value.message


def test_parse_body_rejects_deep_nesting_with_payload_error():
    with pytest.raises(PayloadError):
        parse_body(b"[" * 5000 + b"]" * 5000)


def test_parse_body_rejects_numbers_that_overflow_to_infinity():
    with pytest.raises(PayloadError):
        parse_body(b'{"a": 1e400}')


def test_validate_handles_a_deeply_nested_extra_value_without_crashing():
    deep = parse_body(b'{"deep": ' + b"[" * 600 + b"]" * 600 + b"}")["deep"]
    try:
        payload = validate(valid(deep=deep))
    except PayloadError as error:
        assert "deep" in error.fields
    else:
        assert payload.extra == {"deep": deep}


# --- validate by example ------------------------------------------------------------


def test_validate_returns_every_field_trimmed_except_the_message():
    payload = validate(
        valid(
            user_id="  u-1 ",
            phone_number=" +81 90-1234-5678 ",
            message="  hi\n",
            message_id=" d-1 ",
            name=" Aiko ",
            topic=" billing ",
            media_urls=[" https://cdn.example.com/a.jpg "],
            campaign="spring",
        )
    )
    assert payload == InboundPayload(
        user_id="u-1",
        phone_number="+81 90-1234-5678",
        message="  hi\n",
        message_id="d-1",
        media_urls=("https://cdn.example.com/a.jpg",),
        name="Aiko",
        topic="billing",
        extra={"campaign": "spring"},
    )


def test_optional_fields_default_to_empty():
    assert validate(valid()) == InboundPayload(user_id="u-1", phone_number=PHONE, message="hello")


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        pytest.param(
            "https://a.example/1.jpg, https://a.example/2.jpg https://a.example/3.jpg",
            ("https://a.example/1.jpg", "https://a.example/2.jpg", "https://a.example/3.jpg"),
            id="comma-and-space-string",
        ),
        pytest.param(
            '["https://a.example/1.jpg", "https://a.example/2.jpg"]',
            ("https://a.example/1.jpg", "https://a.example/2.jpg"),
            id="bracketed-string",
        ),
        pytest.param("http://a.example/x", ("http://a.example/x",), id="single-string"),
        pytest.param(["https://a.example/1.jpg", " "], ("https://a.example/1.jpg",), id="list"),
        pytest.param("", (), id="empty-string"),
        pytest.param(None, (), id="null"),
        pytest.param([f"https://a.example/{n}" for n in range(20)], None, id="20-urls"),
    ],
)
def test_media_urls_as_list_or_string(media, expected):
    payload = validate(valid(media_urls=media))
    assert payload.media_urls == (expected if expected is not None else tuple(media))


def test_empty_message_is_accepted_with_media_and_kept_empty():
    payload = validate(valid(message="", media_urls=["https://a.example/1.jpg"]))
    assert (payload.message, payload.media_urls) == ("", ("https://a.example/1.jpg",))
    payload = validate(valid(message=..., media_urls="https://a.example/1.jpg"))
    assert payload.message == ""


def test_message_of_exactly_the_limit_is_accepted_and_one_more_is_not():
    assert len(validate(valid(message="あ" * MAX_MESSAGE_CHARS)).message) == MAX_MESSAGE_CHARS
    assert problems_of(valid(message="あ" * (MAX_MESSAGE_CHARS + 1))) == {
        "message": f"is {MAX_MESSAGE_CHARS + 1} characters long; the limit is {MAX_MESSAGE_CHARS}"
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(valid(user_id=...), {"user_id": "is required"}, id="user_id-missing"),
        pytest.param(
            valid(user_id=None), {"user_id": "is required and may not be null"}, id="user_id-null"
        ),
        pytest.param(
            valid(user_id=5), {"user_id": "must be a string, not a number"}, id="user_id-number"
        ),
        pytest.param(
            valid(user_id=True), {"user_id": "must be a string, not a boolean"}, id="user_id-bool"
        ),
        pytest.param(
            valid(user_id=""),
            {"user_id": "may not be empty (the Braze user has no external_id)"},
            id="user_id-empty",
        ),
        pytest.param(
            valid(user_id="x" * 256),
            {"user_id": "is 256 characters long; the limit is 255"},
            id="user_id-too-long",
        ),
        pytest.param(
            valid(phone_number="abc"),
            {"phone_number": "must be a phone number: digits, optionally with +, spaces or dashes"},
            id="phone-abc",
        ),
        pytest.param(
            valid(phone_number="+1" + "2" * 20),
            {"phone_number": "must be a phone number: digits, optionally with +, spaces or dashes"},
            id="phone-21-digits",
        ),
        pytest.param(
            valid(message=None),
            {"message": "is required and may be empty only when media_urls is present"},
            id="message-null",
        ),
        pytest.param(
            valid(message="  "),
            {"message": "is empty and there are no media_urls"},
            id="message-blank",
        ),
        pytest.param(
            valid(message=["a"]),
            {"message": "must be a string, not an array"},
            id="message-list",
        ),
        pytest.param(
            valid(media_urls=["https://a.example/x", "javascript:alert(1)"]),
            {"media_urls": "holds something that is not an http(s) URL: 'javascript:alert(1)'"},
            id="media-javascript-url",
        ),
        pytest.param(
            valid(media_urls=["https://"]),
            {"media_urls": "holds something that is not an http(s) URL: 'https://'"},
            id="media-no-host",
        ),
        pytest.param(
            valid(media_urls=["http://[::1"]),
            {"media_urls": "holds something that is not an http(s) URL: 'http://[::1'"},
            id="media-unparseable",
        ),
        pytest.param(
            valid(media_urls=[f"https://a.example/{n}" for n in range(MAX_MEDIA_URLS + 1)]),
            {"media_urls": "has 21 URLs; the limit is 20"},
            id="media-21",
        ),
        pytest.param(
            valid(media_urls={"url": "https://a.example"}),
            {"media_urls": "must be a list of URLs or a string of URLs"},
            id="media-object",
        ),
        pytest.param(
            valid(message_id=1),
            {"message_id": "must be a string, not a number"},
            id="message_id-number",
        ),
        pytest.param(
            valid(topic="t" * 101),
            {"topic": "is 101 characters long; the limit is 100"},
            id="topic-too-long",
        ),
        pytest.param(
            valid(note={"deep": ["ok", "bad\x00"]}),
            {"note": "contains a control character or an unpaired surrogate"},
            id="extra-nested-nul",
        ),
        pytest.param(
            valid(**{"bad\x01key": "v"}),
            {"bad\x01key": "contains a control character or an unpaired surrogate"},
            id="extra-key-control-char",
        ),
    ],
)
def test_validate_names_each_problem(data, expected):
    assert problems_of(data) == expected


def test_all_problems_are_reported_at_once_in_one_sentence():
    with pytest.raises(PayloadError) as caught:
        validate({"user_id": 1, "phone_number": "x", "message": None})
    assert caught.value.message == "3 fields are invalid: message, phone_number, user_id."
    assert set(caught.value.fields) == {"user_id", "phone_number", "message"}


def test_a_single_problem_is_one_sentence_naming_the_field():
    with pytest.raises(PayloadError) as caught:
        validate(valid(message="a" * 10_000))
    assert caught.value.message == ("Field 'message' is 10000 characters long; the limit is 4096.")


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\x00", "U+0000"),
        ("\x07", "U+0007"),
        ("\x1b", "U+001B"),
        ("\x7f", "U+007F"),
        ("\x9f", "U+009F"),
        ("\ud800", "U+D800"),
        ("\udfff", "U+DFFF"),
    ],
)
def test_control_characters_and_lone_surrogates_are_named_by_code_point(char, code):
    assert problems_of(valid(message=f"a{char}b")) == {
        "message": f"contains a control character ({code})"
    }


def test_message_may_hold_tabs_and_line_breaks():
    assert validate(valid(message="a\tb\nc\r\nd")).message == "a\tb\nc\r\nd"


@pytest.mark.parametrize("name", ["user_id", "message_id", "name", "topic"])
def test_single_line_fields_reject_line_breaks(name):
    problem = problems_of(valid(**{name: "a\nb"}))[name]
    assert problem.startswith("contains a control character")


@pytest.mark.parametrize(("char", "code"), [("\n", "U+000A"), ("\r", "U+000D")])
def test_line_break_in_user_id_is_named_by_its_own_code_point(char, code):
    assert problems_of(valid(user_id=f"a{char}b")) == {
        "user_id": f"contains a control character ({code})"
    }


# --- properties -------------------------------------------------------------------------

# Text without C0/C1 controls and surrogates: exactly what validate must accept.
SAFE_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
SURROGATES = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def single_line(max_size: int) -> st.SearchStrategy[str]:
    """Non-blank, already trimmed text (validate trims these fields)."""
    return st.text(SAFE_CHARS, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def phone_numbers() -> st.SearchStrategy[str]:
    digit_groups = st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=2, max_size=5)
    return st.builds(
        lambda plus, groups, sep: plus + sep.join(groups),
        st.sampled_from(["", "+"]),
        digit_groups,
        st.sampled_from(["", " ", "-"]),
    ).filter(lambda phone: 5 <= sum(c.isdigit() for c in phone) <= 20)


messages = st.text(
    st.one_of(SAFE_CHARS, st.sampled_from("\t\n\r")), min_size=1, max_size=MAX_MESSAGE_CHARS
).filter(lambda text: text.strip())

safe_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(SAFE_CHARS, max_size=20),
)
safe_json = st.recursive(
    safe_json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(SAFE_CHARS, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
extra_keys = st.text(SAFE_CHARS, min_size=1, max_size=12).filter(
    lambda key: key not in KNOWN_FIELDS
)


@FAST
@given(
    user_id=single_line(255),
    phone=phone_numbers(),
    message=messages,
    optional=st.fixed_dictionaries(
        {},
        optional={
            "message_id": single_line(255),
            "name": single_line(255),
            "topic": single_line(100),
        },
    ),
    extra=st.dictionaries(extra_keys, safe_json, max_size=4),
)
@example(
    user_id="ユーザー👩‍👩‍👧",
    phone="+81 90-1234",
    message='<script>alert(1)</script>\n"q" \\',
    optional={"name": "Ａｉｋｏ"},
    extra={"note": {"a": [1, None, "x"]}},
)
def test_valid_strings_round_trip_and_extra_keys_are_kept(user_id, phone, message, optional, extra):
    data = {**extra, "user_id": user_id, "phone_number": phone, "message": message, **optional}
    # Through the bytes too, as the webhook receives them.
    parsed = parse_body(json.dumps(data, ensure_ascii=False).encode("utf-8"))

    payload = validate(parsed)

    assert payload.user_id == user_id
    assert payload.phone_number == phone
    assert payload.message == message
    assert payload.message_id == optional.get("message_id", "")
    assert payload.name == optional.get("name", "")
    assert payload.topic == optional.get("topic", "")
    assert payload.media_urls == ()
    assert payload.extra == extra


any_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)


@FAST
@given(value=any_json.filter(lambda value: not isinstance(value, dict)))
def test_any_json_value_that_is_not_an_object_is_rejected(value):
    raw = json.dumps(value).encode("utf-8")

    with pytest.raises(PayloadError) as caught:
        parse_body(raw)

    assert caught.value.message.startswith("The body must be a JSON object, not ")
    assert caught.value.fields == {}


json_ish_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"',
                b":",
                b",",
                b"\\",
                b"u",
                b"d800",
                b"NaN",
                b"1e9",
                b"-",
                b"null",
                b"true",
                b" ",
                b"\xff",
                b"\xc3",
                b"\xef\xbb\xbf",
                b'"user_id"',
            ]
        ),
        max_size=40,
    ).map(b"".join),
)


@FAST
@given(raw=json_ish_bytes)
@example(raw=b"\xef\xbb\xbf")
@example(raw=b"\x00")
@example(raw=b'{"a": "\\ud800"}')
def test_random_bytes_never_raise_anything_but_payload_error(raw):
    try:
        result = parse_body(raw)
    except PayloadError as error:
        assert error.message and error.message.endswith(".")
    else:
        assert isinstance(result, dict)


json_objects = st.dictionaries(
    st.one_of(st.sampled_from(KNOWN_FIELDS), st.text(max_size=8)),
    st.one_of(any_json, st.text(st.one_of(st.characters(), SURROGATES), max_size=30)),
    max_size=9,
)


@FAST
@given(data=json_objects)
@example(data={"user_id": "u", "phone_number": "12345", "message": "", "media_urls": "[]"})
@example(data={"user_id": "u", "phone_number": "12345", "media_urls": ["http://[::1"]})
def test_validate_never_raises_anything_but_payload_error(data):
    try:
        payload = validate(data)
    except PayloadError as error:
        assert error.fields, "every validate() rejection names at least one field"
        assert set(error.fields) <= set(data) | {"user_id", "phone_number", "message"}
    else:
        assert isinstance(payload, InboundPayload)
        assert payload.user_id and payload.phone_number
        assert payload.message.strip() or payload.media_urls
        assert not FORBIDDEN.search(payload.user_id + payload.phone_number + payload.message)


forbidden_chars = st.one_of(
    st.characters(min_codepoint=0x00, max_codepoint=0x08),
    st.sampled_from(["\x0b", "\x0c"]),
    st.characters(min_codepoint=0x0E, max_codepoint=0x1F),
    st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
    SURROGATES,
)


@FAST
@given(
    field_name=st.sampled_from(
        ["user_id", "phone_number", "message", "message_id", "name", "topic", "campaign"]
    ),
    base=single_line(40),
    char=forbidden_chars,
    position=st.integers(min_value=0),
)
def test_a_forbidden_control_character_anywhere_is_rejected(field_name, base, char, position):
    index = position % (len(base) + 1)
    value = base[:index] + char + base[index:]
    data = valid(**{field_name: value})

    with pytest.raises(PayloadError) as caught:
        validate(data)

    assert "control character" in caught.value.fields[field_name]
    if field_name != "campaign":
        assert f"U+{ord(char):04X}" in caught.value.fields[field_name]


@FAST
@given(key_char=forbidden_chars, value=safe_json)
def test_a_forbidden_character_in_an_extra_key_is_rejected(key_char, value):
    key = f"k{key_char}"
    assert key in problems_of(valid(**{key: value}))


# --- Bidirectional formatting characters in names -------------------------------------

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("char", list(BIDI_CONTROLS))
def test_a_name_loses_its_bidi_controls(char):
    assert validate(valid(name=f"x{char}txt.exe")).name == "xtxt.exe"


def test_the_message_keeps_its_bidi_controls_for_the_inbox_to_isolate():
    text = "مرحبا \u202eabc\u202c \u2067שלום\u2069"
    assert validate(valid(message=text, name="\u202eMallory")).message == text


@FAST
@given(name=st.text(alphabet=st.sampled_from(BIDI_CONTROLS + "ab .عא"), max_size=30))
def test_no_accepted_name_holds_a_bidi_control(name):
    accepted = validate(valid(name=name)).name
    assert not set(accepted) & set(BIDI_CONTROLS)
    assert accepted == "".join(c for c in name if c not in BIDI_CONTROLS).strip()
