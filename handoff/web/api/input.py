"""Reading what a caller sent: the JSON body and query parameters, strictly.

Each reader either returns a value of the promised type or raises an `ApiError`
naming the field, before any service runs, so nothing is half-done on bad input.
"""

import json

from django.http import HttpRequest

from handoff.rules.payloads import text_problem
from handoff.web.api.errors import ApiError, invalid

MAX_ID = 2**63 - 1  # the database's integer; larger ones would fail there, not here


def json_body(request: HttpRequest) -> dict:
    """The body as a JSON object; an empty body is an empty object (no fields sent)."""
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body)
    except RecursionError as error:
        raise ApiError(400, "The body is nested too deeply; send a flat JSON object.") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"The body is not valid JSON: {error}.") from error
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def required_string(data: dict, name: str, *, multiline: bool = False) -> str:
    """A string that can be stored and sent on: the webhook's rule on control
    characters and lone surrogates (line breaks only when `multiline`)."""
    value = data.get(name)
    if value is None:
        raise invalid(name, "this field is required.")
    if not isinstance(value, str):
        raise invalid(name, f"must be a string, not {_json_type(value)}.")
    if problem := text_problem(value, multiline=multiline):
        raise invalid(name, f"{problem}.")
    return value


def required_choice(
    data: dict, name: str, choices: tuple[str, ...], *, why_not: dict[str, str] | None = None
) -> str:
    """One of `choices`, exactly; `why_not` explains a value people are likely to try."""
    value = data.get(name)
    if value is None:
        raise invalid(name, "this field is required.")
    if not isinstance(value, str):
        raise invalid(name, f"must be a string, not {_json_type(value)}.")
    if value not in choices:
        listed = " or ".join(json.dumps(choice) for choice in choices)
        reason = (why_not or {}).get(value)
        problem = f"must be {listed}, not {json.dumps(value[:40])}"
        raise invalid(name, f"{problem}: {reason}." if reason else f"{problem}.")
    return value


def optional_id(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise invalid(name, "must be a positive whole number.")
    return value


def int_param(
    request: HttpRequest, name: str, *, default: int | None, low: int, high: int | None = None
) -> int:
    """A whole-number query parameter within [low, high]."""
    raw = request.GET.get(name, "").strip()
    if not raw:
        if default is None:
            raise invalid(name, "this parameter is required.")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"must be a whole number, not {raw[:20]!r}.") from None
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise invalid(name, f"must be {span}; got {value}.")
    return value


def _json_type(value) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
