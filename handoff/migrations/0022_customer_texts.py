"""Customer texts per language (models.CustomerText) in place of the settings row's
three texts: the row's texts (as admins left them) become the site's default
language's, and every text gets its built-in English and Japanese version where the
language has none. Reversed, the default language's texts go back into the row."""

from django.conf import settings
from django.db import migrations, models

# The built-in texts as of this migration (rules/system_texts.py may move on).
DEFAULTS = {
    "handover": {
        "en": "Thanks for your patience. I'm passing you to a member of our "
        "team; they'll reply right here in this chat shortly.",
        "ja": "お待たせしております。担当者におつなぎします。まもなくこちらのチャットでご返信いたします。",
    },
    "offline": {
        "en": "We are closed now and open again {opening}. A member of our team "
        "will reply here then.",
        "ja": "ただいま営業時間外です。次の営業開始は{opening}です。営業開始後、担当者よりこちらにご返信いたします。",
    },
    "resolved": {
        "en": "Glad we could help. This conversation is now closed; just write "
        "to us here whenever you need anything else.",
        "ja": "お問い合わせありがとうございました。このお問い合わせは完了となります。またいつでもこちらにご連絡ください。",
    },
    "bot_miss": {
        "en": "Sorry, I didn't quite get that. Could you say it another way? You "
        'can also write "agent" at any time to talk to a person.',
        "ja": "申し訳ありません、うまく理解できませんでした。別の言い方でお試しください。担当者と話したい場合は「担当者」とお送りください。",
    },
    "survey_prompt": {
        "en": "How did we do? Reply with a number from 1 (poor) to 5 (excellent).",
        "ja": "今回の対応はいかがでしたか？1（不満）から5（満足）の数字でご返信ください。",
    },
}
FROM_SETTINGS = {
    "handover": "handover_text",
    "bot_miss": "bot_miss_text",
    "resolved": "resolved_text",
}


def _site_language() -> str:
    code = (settings.LANGUAGE_CODE or "en").strip().replace("_", "-").lower()
    return code.split("-", 1)[0] or "en"


def fill(apps, schema_editor):
    CustomerText = apps.get_model("handoff", "CustomerText")
    row = apps.get_model("handoff", "HandoffSettings").objects.filter(pk=1).first()
    site = _site_language()
    if row is not None:
        for key, field in FROM_SETTINGS.items():
            CustomerText.objects.get_or_create(
                key=key, language=site, defaults={"text": getattr(row, field)}
            )
    for key, texts in DEFAULTS.items():
        for language, text in texts.items():
            CustomerText.objects.get_or_create(key=key, language=language, defaults={"text": text})


def empty(apps, schema_editor):
    CustomerText = apps.get_model("handoff", "CustomerText")
    row = apps.get_model("handoff", "HandoffSettings").objects.filter(pk=1).first()
    if row is not None:
        for key, field in FROM_SETTINGS.items():
            text = CustomerText.objects.filter(key=key, language=_site_language()).first()
            if text is not None:
                setattr(row, field, text.text)
        row.save()


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0021_report_conversation_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="CustomerText",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        choices=[
                            ("handover", "hand-over message"),
                            ("offline", "text outside opening hours"),
                            ("resolved", "resolved message"),
                            ("bot_miss", "bot could not answer"),
                            ("survey_prompt", "survey question"),
                        ],
                        max_length=32,
                        verbose_name="text",
                    ),
                ),
                (
                    "language",
                    models.CharField(
                        help_text=(
                            "A language code as Braze sends it in the profile's language: "
                            "ja, en, pt-BR. Customers whose language has no text of this "
                            "kind get the site's default language's."
                        ),
                        max_length=16,
                        verbose_name="language",
                    ),
                ),
                ("text", models.TextField(blank=True, max_length=4096, verbose_name="text")),
            ],
            options={
                "verbose_name": "customer text",
                "verbose_name_plural": "customer texts",
                "ordering": ["key", "language"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("key", "language"), name="one_text_per_language"
                    )
                ],
            },
        ),
        migrations.RunPython(fill, empty),
        migrations.RemoveField(model_name="handoffsettings", name="bot_miss_text"),
        migrations.RemoveField(model_name="handoffsettings", name="handover_text"),
        migrations.RemoveField(model_name="handoffsettings", name="resolved_text"),
    ]
