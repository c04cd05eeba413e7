"""Admin page "Braze setup": the same checks as `manage.py braze_check`, for superusers.

Read-only: it shows the settings checks, the webhook campaign's URL, headers and body
with copy buttons, and the checklist; it never sends a test message (the command's
--send-to does) and never shows a secret beyond its last four characters. It shows how
the webhook is wired (URL, header, allow-list), which is for whoever holds the
deployment's secrets: superusers, not every staff member.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from handoff.braze.wiring import check_wiring


def braze_setup(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    report = check_wiring(webhook_url=request.GET.get("webhook_url") or None)
    context = {
        **admin.site.each_context(request),
        "title": _("Braze setup"),
        "report": report,
    }
    return TemplateResponse(request, "admin/handoff/braze_setup.html", context)
