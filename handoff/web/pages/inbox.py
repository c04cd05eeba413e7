"""The agents' inbox page: one server-rendered shell, the rest is static/inbox/*.js.

The page holds no conversation data of its own: the script loads everything through
the JSON API (docs/api.md) and keeps it current through the socket
(docs/websocket.md). This view only decides who may see the page, and tells it the
status the agent chose (available or away), so that a reload starts from it, and their
teams, whose waiting conversations their Waiting queue shows; and whether to link
to the reports page.
"""

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from handoff.rules.agents import is_agent, may_report
from handoff.rules.payloads import MAX_MESSAGE_CHARS
from handoff.selectors.agents import chosen_status, team_names


@require_safe
def inbox(request):
    """Anonymous users go to the login page; signed-in non-agents get a plain 403."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_agent(request.user):
        if may_report(request.user):  # a supervisor who is not an agent: their page
            return redirect("supervisor")
        return render(request, "inbox/forbidden.html", status=403)
    return render(
        request,
        "inbox/inbox.html",
        {
            "max_chars": MAX_MESSAGE_CHARS,
            "status": chosen_status(request.user),
            "teams": team_names(request.user),
            "may_report": may_report(request.user),
        },
    )
