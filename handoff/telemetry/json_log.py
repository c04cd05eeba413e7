"""Log records as JSON lines for machines (HANDOFF_LOG_FORMAT=json).

One object per line with a fixed set of fields: `time` (ISO 8601, UTC), `level`,
`logger`, `message`, `request_id` and `conversation_id` (null when unknown, see
handoff.telemetry.log_context), `exc_info` when an exception is logged, and the access
log's own fields. Nothing else a caller passes in `extra` is written: an allow-list, so
that no field added somewhere for convenience carries customer data into a log store.
Handoff's own lines name rows by id; as a last guard, anything shaped like a phone
number in a message or a traceback is replaced (a Braze or bot error may quote one).

It never decides what is logged, only how a record is written.
"""

import logging
import re
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Always written, null when unknown: a log store can index them without guessing.
CONTEXT_FIELDS = ("request_id", "conversation_id")
# Written when a record has them: what the access log (handoff.web.access_log) adds.
OPTIONAL_FIELDS = ("method", "path", "status", "size", "duration_seconds", "client")

# Eight to fifteen digits, optionally after "+" and with single spaces or dashes between
# them (E.164 and its printed forms: +819012345678, 090-1234-5678), but not a date.
PHONE_LIKE = re.compile(r"(?<!\d)(?!\d{4}-\d\d-\d\d(?!\d))\+?\d(?:[ -]?\d){7,14}(?!\d)")
REDACTED = "[redacted]"


def redact_numbers(text: str) -> str:
    """`text` with every phone-number-like run of digits replaced by "[redacted]"."""
    return PHONE_LIKE.sub(REDACTED, text)


def iso_utc(created: float) -> str:
    """A record's time as ISO 8601 in UTC to the millisecond: 2026-12-07T04:05:06.789Z."""
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter with handoff's fields and nothing else."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = iso_utc(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = redact_numbers(record.message)
        for name in CONTEXT_FIELDS:
            log_data[name] = getattr(record, name, None)
        for name in OPTIONAL_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                log_data[name] = value
        if "path" in log_data:
            log_data["path"] = redact_numbers(str(log_data["path"]))
        exc_info = message_dict.get("exc_info")
        if exc_info:
            log_data["exc_info"] = redact_numbers(str(exc_info))
