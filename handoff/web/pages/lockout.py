"""The page a locked-out sign-in gets (django-axes calls `locked_out`; settings.py).

It says why and for how long, on the sign-in page of the site that was used (the inbox's
or the admin's). It never tells whether the username exists or the password was right.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext

LOCKED_OUT_STATUS = 429


def lockout_message() -> str:
    minutes = settings.HANDOFF_LOGIN_COOLOFF_MINUTES
    return ngettext(
        "Too many failed sign-ins; try again in %(minutes)d minute or ask an admin to unlock you.",
        "Too many failed sign-ins; try again in %(minutes)d minutes or ask an admin to unlock you.",
        minutes,
    ) % {"minutes": minutes}


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The sign-in form again, empty but for the username, with the lockout message;
    429 Too Many Requests."""
    initial = {"username": request.POST.get("username", "")}
    context = {"locked_out": lockout_message(), "next": request.POST.get("next", "")}
    if request.path.startswith("/admin/"):
        context.update(
            admin.site.each_context(request),
            form=AdminAuthenticationForm(request, initial=initial),
            app_path=request.get_full_path(),
        )
        template = "admin/login.html"
    else:
        context["form"] = AuthenticationForm(request, initial=initial)
        template = "registration/login.html"
    return render(request, template, context, status=LOCKED_OUT_STATUS)
