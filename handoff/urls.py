from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from handoff.web import health, metrics, webhook
from handoff.web.pages import braze_setup, inbox, reports, supervisor

urlpatterns = [
    path("webhooks/braze/whatsapp/", webhook.braze_whatsapp, name="braze-webhook"),
    path("webhooks/braze/whatsapp", webhook.braze_whatsapp),
    path("healthz", health.healthz, name="healthz"),
    # Off (404) unless HANDOFF_METRICS_TOKEN is set; then for that bearer token only.
    path("metrics", metrics.metrics, name="metrics"),
    # Before admin/ so the admin's catch-all does not take it; admin_view requires staff,
    # the page itself a superuser.
    path(
        "admin/braze-setup/",
        admin.site.admin_view(braze_setup.braze_setup),
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
    path("api/", include("handoff.web.api.urls")),
    # The inbox script's translations (gettext in JavaScript), in the browser's language.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("supervisor/", supervisor.supervisor, name="supervisor"),
    path("reports/", reports.reports_page, name="reports"),
    path("", inbox.inbox, name="inbox"),
]
