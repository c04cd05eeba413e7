"""The live supervisor view: one server-rendered shell; static/supervisor/supervisor.js
loads the snapshot (`/api/supervisor/`) and keeps it current from the inbox socket.

Staff and supervisors (the `handoff.supervise` permission) only; this view decides who
may see the page, nothing else.
"""

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.views.decorators.http import require_safe

from handoff.rules.agents import may_report


@require_safe
def supervisor(request):
    """Anonymous users go to the login page; the others who may not watch get a 403."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not may_report(request.user):
        return render(request, "supervisor/forbidden.html", status=403)
    return render(request, "supervisor/supervisor.html")
