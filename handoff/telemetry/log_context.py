"""Which request and which conversation the code running now works for, so that every
log line can say so (`request_id`, `conversation_id`).

Both are context variables: an HTTP request or a websocket connection sets its request
id on the event loop (handoff.web.request_id), and asgiref copies the context into the
threads `sync_to_async` hands work to, so a view's and a service's lines carry it too.
A background worker thread starts with an empty context and sets the conversation of
each work item it takes (`working_on`), for that item only.

It holds ids, never a name, a number or a message's text.
"""

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("handoff_request_id", default=None)
_conversation_id: ContextVar[int | None] = ContextVar("handoff_conversation_id", default=None)

# A proxy's request id (nginx's $request_id is 32 hex digits, most are UUIDs) is kept;
# anything else from the client is replaced, so that a header cannot put arbitrary text,
# a line break or a kilobyte of junk into every line of a request.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def request_id_from(header: str | None) -> str:
    """The incoming `X-Request-ID` when it is a sane token, else a fresh one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def current_conversation_id() -> int | None:
    return _conversation_id.get()


@contextmanager
def serving(request_id: str) -> Iterator[None]:
    """Lines logged inside (and in tasks and threads started inside) carry `request_id`."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextmanager
def working_on(conversation_id: int | None) -> Iterator[None]:
    """Lines logged inside carry `conversation_id`: around one work item of a worker."""
    token = _conversation_id.set(conversation_id)
    try:
        yield
    finally:
        _conversation_id.reset(token)


class LogContextFilter(logging.Filter):
    """Puts `request_id` and `conversation_id` on every record a handler emits (None
    when unknown), unless the call passed its own in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        if getattr(record, "conversation_id", None) is None:
            record.conversation_id = _conversation_id.get()
        return True
