from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = _("Handoff")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from handoff.services import revocation_triggers

        revocation_triggers.connect()
