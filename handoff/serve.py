"""`python -m handoff.serve [daphne's options] handoff.asgi:application`: daphne, as the
Procfile runs it, with an access log that never writes a query string.

Agents search the inbox by phone number and name (`/api/conversations/?q=...`), so a
query string is customer data; the access log keeps method, path, status and size.
Every daphne option passes through unchanged. This module must never change how
requests are served, only what the access log says about them.
"""

import sys
from collections.abc import Callable

from daphne.cli import CommandLineInterface
from daphne.server import Server

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


class QuietQueryServer(Server):
    """daphne's server with `access_log_without_queries` around its access log."""

    def __init__(self, *args, action_logger=None, **kwargs):
        super().__init__(*args, action_logger=access_log_without_queries(action_logger), **kwargs)


class QuietQueryCommandLine(CommandLineInterface):
    server_class = QuietQueryServer


def main(argv: list[str] | None = None) -> None:
    QuietQueryCommandLine().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
