"""Who may call the API, with which methods, and the CSRF check for session callers.

The API answers JSON even when it refuses: a script or the inbox page must be able
to read why. So Django's CSRF middleware is told to step aside (its refusal is an
HTML page) and the same check runs here, answering a JSON 403 instead.
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from handoff.rules.agents import is_agent
from handoff.services.conversations import ConversationConflict
from handoff.web.api.errors import ApiError, conflict_response
from handoff.web.json_errors import json_error

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason, not Django's HTML page


def _csrf_failure(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def agent_api(*methods: str) -> Callable:
    """Guard an API view: agents only, these methods only, CSRF on writes; turn
    `ApiError` and `ConversationConflict` into their JSON answers."""
    allowed = ", ".join(methods)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return json_error(401, "Log in first.")
            if not is_agent(request.user):
                return json_error(403, "Only agents may use the inbox.")
            if request.method not in methods:
                return json_error(
                    405, f"Use {allowed}; {request.method} is not allowed here.", Allow=allowed
                )
            if request.method not in SAFE_METHODS:
                reason = _csrf_failure(request)
                if reason:
                    return json_error(
                        403,
                        f"CSRF check failed ({reason}). Send the csrftoken cookie's value "
                        "in the X-CSRFToken header.",
                    )
            try:
                return view(request, *args, **kwargs)
            except ApiError as error:
                return json_error(error.status, error.message, error.fields)
            except ConversationConflict as conflict:
                return conflict_response(conflict, request.user)

        return guarded

    return decorate
