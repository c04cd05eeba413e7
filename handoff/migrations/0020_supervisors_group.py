"""A "Supervisors" group carrying the permission to read reports and watch the desk
live, as 0002 made "Agents": an admin adds team leads to it instead of finding the
permission in the long list."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def seed(apps, schema_editor):
    app_config = apps.get_app_config("handoff")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Supervisors")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="handoff", codename="supervise")
    )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0019_report_facts")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
