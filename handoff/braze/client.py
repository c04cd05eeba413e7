"""The only code that talks to Braze's REST API.

It sends what it is given and classifies Braze's answer; it never decides what to
send, when to retry or what a failure means for a conversation (that is
`handoff.services.delivery`, and `handoff.services.profile_sync` for profiles). It
never logs or returns the API key.
"""

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.conf import settings

TRIGGER_SEND_PATH = "/campaigns/trigger/send"
USERS_TRACK_PATH = "/users/track"
# Braze's documented limit of objects per /users/track request (some plans: 50).
USERS_TRACK_MAX_OBJECTS = 75
MAX_ERROR_CHARS = 1000


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # any 2xx: Braze took it
    RETRY = "retry"  # 5xx, 408, timeouts, connection errors: try again later
    RATE_LIMITED = "rate_limited"  # 429: wait until the reset time
    REJECTED = "rejected"  # 400/401/403/404 and other 4xx: will never succeed as is


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status: int | None = None
    dispatch_id: str = ""
    error: str = ""
    retry_at: datetime | None = None


@dataclass(frozen=True)
class TrackResult:
    """Braze's answer to /users/track. A 2xx may still refuse single objects: Braze
    lists those as non-fatal `errors` with their index, kept here by that index."""

    result: SendResult
    object_errors: dict[int, str] = field(default_factory=dict)
    other_errors: tuple[str, ...] = ()


class BrazeNotConfigured(Exception):
    """A setting Braze needs is missing; the message says which."""


class BrazeClient:
    """A keep-alive session to one Braze REST endpoint. One per thread."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ):
        self.endpoint = (endpoint if endpoint is not None else settings.BRAZE_REST_ENDPOINT).rstrip(
            "/"
        )
        self._api_key = api_key if api_key is not None else settings.BRAZE_API_KEY
        self.timeout = (
            connect_timeout if connect_timeout is not None else settings.BRAZE_CONNECT_TIMEOUT,
            read_timeout if read_timeout is not None else settings.BRAZE_READ_TIMEOUT,
        )
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"BrazeClient(endpoint={self.endpoint!r})"

    def trigger_send(
        self, *, campaign_id: str, external_user_id: str, properties: dict[str, str]
    ) -> SendResult:
        """POST /campaigns/trigger/send for one recipient with its trigger properties."""
        missing = [
            name
            for name, value in (
                ("BRAZE_REST_ENDPOINT", self.endpoint),
                ("BRAZE_API_KEY", self._api_key),
                ("BRAZE_CAMPAIGN_ID", campaign_id),
            )
            if not value
        ]
        if missing:
            raise BrazeNotConfigured(f"Braze is not configured: set {', '.join(missing)}.")
        body = {
            "campaign_id": campaign_id,
            "recipients": [
                {"external_user_id": external_user_id, "trigger_properties": properties}
            ],
        }
        return self._post(TRIGGER_SEND_PATH, body)

    def users_track(self, *, attributes: list[dict]) -> TrackResult:
        """POST /users/track with attribute objects (each with its `external_id`)."""
        missing = [
            name
            for name, value in (
                ("BRAZE_REST_ENDPOINT", self.endpoint),
                ("BRAZE_API_KEY", self._api_key),
            )
            if not value
        ]
        if missing:
            raise BrazeNotConfigured(f"Braze is not configured: set {', '.join(missing)}.")
        if not 0 < len(attributes) <= USERS_TRACK_MAX_OBJECTS:
            raise ValueError(f"/users/track takes 1 to {USERS_TRACK_MAX_OBJECTS} objects")
        response = self._request(USERS_TRACK_PATH, {"attributes": attributes})
        if isinstance(response, SendResult):
            return TrackResult(response)
        result = classify(response)
        if result.outcome is not Outcome.ACCEPTED:
            return TrackResult(result)
        by_index, other = _object_errors(_json_or_none(response), "attributes")
        return TrackResult(result, by_index, other)

    def _post(self, path: str, body: dict) -> SendResult:
        response = self._request(path, body)
        return response if isinstance(response, SendResult) else classify(response)

    def _request(self, path: str, body: dict) -> requests.Response | SendResult:
        """Braze's response, or the RETRY result for a request that got none."""
        try:
            return self.session.post(
                self.endpoint + path,
                json=body,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            return SendResult(Outcome.RETRY, error="Braze did not answer in time.")
        except requests.ConnectionError as error:
            return SendResult(Outcome.RETRY, error=f"Could not reach Braze: {_first_line(error)}")


def classify(response: requests.Response) -> SendResult:
    """Map Braze's answer to what delivery should do about it."""
    status = response.status_code
    payload = _json_or_none(response)
    if 200 <= status < 300:
        dispatch_id = str(payload.get("dispatch_id", "")) if isinstance(payload, dict) else ""
        return SendResult(Outcome.ACCEPTED, status=status, dispatch_id=dispatch_id)
    error = f"Braze answered {status}: {_braze_message(payload, response)}"[:MAX_ERROR_CHARS]
    if status == 429:
        return SendResult(
            Outcome.RATE_LIMITED, status=status, error=error, retry_at=_reset_time(response)
        )
    if status >= 500 or status == 408:
        return SendResult(Outcome.RETRY, status=status, error=error)
    return SendResult(Outcome.REJECTED, status=status, error=error)


def _object_errors(payload, array: str) -> tuple[dict[int, str], tuple[str, ...]]:
    """Braze's non-fatal errors, `{"type": reason, "input_array": array, "index": n}`,
    by index into `array`; errors that name no object of it are returned apart."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    by_index: dict[int, str] = {}
    other: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            reason = str(error.get("type") or error.get("message") or error)[:MAX_ERROR_CHARS]
            index = error.get("index")
            if error.get("input_array", array) == array and type(index) is int:
                by_index[index] = reason
                continue
            other.append(reason)
        else:
            other.append(str(error)[:MAX_ERROR_CHARS])
    return by_index, tuple(other)


def _json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _braze_message(payload, response: requests.Response) -> str:
    """Braze's own words: `message` plus any `errors`, or the start of the body."""
    if isinstance(payload, dict) and payload.get("message"):
        text = str(payload["message"])
        if payload.get("errors"):
            text += f" ({payload['errors']})"
        return text
    return response.text.strip()[:200] or response.reason or "no message"


def _reset_time(response: requests.Response) -> datetime | None:
    """X-RateLimit-Reset is Unix seconds (lower-case under HTTP/2; requests folds case)."""
    value = response.headers.get("X-RateLimit-Reset")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__
