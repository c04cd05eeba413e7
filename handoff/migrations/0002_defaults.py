"""Useful defaults: escalation phrases in English and Japanese, the settings row, and
an "Agents" group that carries the answer-conversations permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

DEFAULT_RULES = [
    # (phrase, match, priority)
    ("agent", "word", 10),
    ("human", "word", 10),
    ("operator", "word", 10),
    ("representative", "word", 10),
    ("real person", "word", 10),
    ("talk to a person", "contains", 10),
    ("speak to someone", "contains", 10),
    ("customer service", "word", 20),
    ("オペレーター", "word", 10),
    ("担当者", "word", 10),
    ("人と話したい", "contains", 10),
    ("有人対応", "contains", 10),
    ("スタッフ", "word", 20),
    ("人間", "word", 20),
]


def seed(apps, schema_editor):
    EscalationRule = apps.get_model("handoff", "EscalationRule")
    for phrase, match, priority in DEFAULT_RULES:
        EscalationRule.objects.get_or_create(
            phrase=phrase, match=match, defaults={"priority": priority}
        )
    apps.get_model("handoff", "HandoffSettings").objects.get_or_create(pk=1)

    app_config = apps.get_app_config("handoff")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Agents")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="handoff", codename="answer_conversations")
    )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
