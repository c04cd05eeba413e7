from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from handoff import braze_setup_page, health, inbox_page, webhooks

urlpatterns = [
    path("webhooks/braze/whatsapp/", webhooks.braze_whatsapp, name="braze-webhook"),
    path("webhooks/braze/whatsapp", webhooks.braze_whatsapp),
    path("healthz", health.healthz, name="healthz"),
    # Before admin/ so the admin's catch-all does not take it; admin_view requires staff,
    # the page itself a superuser.
    path(
        "admin/braze-setup/",
        admin.site.admin_view(braze_setup_page.braze_setup),
        name="braze-setup",
    ),
    path("admin/", admin.site.urls),
    # Signing in and out, and changing one's own password; no password reset by email
    # (no mail is configured: an admin sets a new password, README "Agents").
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("api/", include("handoff.api.urls")),
    # The inbox script's translations (gettext in JavaScript), in the browser's language.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", inbox_page.inbox, name="inbox"),
]

if settings.HANDOFF_BENCH_VIEWS:
    from handoff.devtools import bench_views

    urlpatterns.append(path("bench/bare/", bench_views.bare))
