"""The web process's access log without query strings (handoff.web.server installs it).

Agents search the inbox by phone number and name (`/api/conversations/?q=...`), so a
query string is customer data; the access log keeps method, path, status and size.
This module must never change how requests are served, only what the access log
says about them.
"""

from collections.abc import Callable

ActionLogger = Callable[[str, str, dict], None]


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
