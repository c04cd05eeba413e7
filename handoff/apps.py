from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = _("Handoff")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks

        from handoff.services import revocation_triggers
        from handoff.web.metrics import worker_metrics_check

        revocation_triggers.connect()
        checks.register(worker_metrics_check)
