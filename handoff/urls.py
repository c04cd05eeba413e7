from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from handoff import braze_setup_page, health, inbox_page, webhooks

urlpatterns = [
    path("webhooks/braze/whatsapp/", webhooks.braze_whatsapp, name="braze-webhook"),
    path("webhooks/braze/whatsapp", webhooks.braze_whatsapp),
    path("healthz", health.healthz, name="healthz"),
    # Before admin/ so the admin's catch-all does not take it; admin_view requires staff.
    path(
        "admin/braze-setup/",
        admin.site.admin_view(braze_setup_page.braze_setup),
        name="braze-setup",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("handoff.api.urls")),
    # The inbox script's translations (gettext in JavaScript), in the browser's language.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", inbox_page.inbox, name="inbox"),
]

if settings.HANDOFF_BENCH_VIEWS:
    from handoff.devtools import bench_views

    urlpatterns.append(path("bench/bare/", bench_views.bare))
