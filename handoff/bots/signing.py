"""The HMAC signature on HTTP bot requests and answers (docs/http-bot.md).

`X-Handoff-Signature: t=<unix seconds>,v1=<hex>`, where the hex is HMAC-SHA256 of
"<t>.<raw body>" under the shared secret. Signing the timestamp with the body lets a
receiver refuse replays of an old, captured request. This module imports nothing of
Django, so that the signature can be checked anywhere the secret is known.
"""

import hashlib
import hmac
import time

HEADER = "X-Handoff-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The signature is missing, malformed, wrong or too old; the message says which."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={signature(secret, at, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check `header` against `body`; the signed timestamp, or SignatureError.

    Several v1 values are accepted (any one matching will do) so that a receiver can
    sign with a new and an old secret while the two sides rotate it.
    """
    if not header:
        raise SignatureError(f"no {HEADER} header")
    timestamp, candidates = _parsed(header)
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("the signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"the signature's timestamp is {current - timestamp:+.0f} s away from now "
            f"(at most {tolerance:g} s allowed)"
        )
    return timestamp


def _parsed(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {HEADER} header (expected t=<seconds>,v1=<hex>)")
    return timestamp, candidates
