"""The web process's access log without query strings (handoff.web.server installs it).

Agents search the inbox by phone number and name (`/api/conversations/?q=...`), so a
query string is customer data; the access log keeps method, path, status and size.
With HANDOFF_LOG_FORMAT=json its lines go through logging (the `handoff.access`
logger) instead of daphne's own text, so that every line of the process is JSON.
This module must never change how requests are served, only what the access log
says about them.
"""

import logging
from collections.abc import Callable

ActionLogger = Callable[[str, str, dict], None]

access_logger = logging.getLogger("handoff.access")

# daphne's websocket actions, named as its own text access log names them.
WEBSOCKET_ACTIONS = {
    "connecting": "WSCONNECTING",
    "rejected": "WSREJECT",
    "connected": "WSCONNECT",
    "disconnected": "WSDISCONNECT",
}


def without_query(path: str) -> str:
    """The path up to (not including) its "?": "/api/x/?q=0901" becomes "/api/x/"."""
    return path.split("?", 1)[0]


def access_log_without_queries(action_logger: ActionLogger | None) -> ActionLogger | None:
    """Wrap daphne's access logger (its `action_logger`) so that the path it is given
    has no query string; None (no access log) stays None."""
    if action_logger is None:
        return None

    def log(protocol: str, action: str, details: dict) -> None:
        if isinstance(details.get("path"), str):
            details = {**details, "path": without_query(details["path"])}
        action_logger(protocol, action, details)

    return log


def access_log_as_records(protocol: str, action: str, details: dict) -> None:
    """daphne's action logger, as records of the `handoff.access` logger: the same
    events as its text access log, with method, path, status, size, duration and
    client as fields of their own. daphne calls it as the app sends the response's
    last part, in the request's context, so an HTTP line carries its request id."""
    path = details.get("path")
    fields = {"path": path, "client": details.get("client")}
    if protocol == "http" and action == "complete":
        fields |= {
            "method": details.get("method"),
            "status": details.get("status"),
            "size": details.get("size"),
            "duration_seconds": details.get("time_taken"),
        }
        message = f"{fields['method']} {path} {fields['status']}"
    elif protocol == "websocket" and action in WEBSOCKET_ACTIONS:
        message = f"{WEBSOCKET_ACTIONS[action]} {path}"
    else:
        return
    access_logger.info(message, extra=fields)
