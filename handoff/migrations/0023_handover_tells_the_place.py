"""The hand-over text tells the customer their place in the queue and the wait
(`{position}`, `{wait}`): the installed texts still as first written become the new
ones; texts admins changed stay as they wrote them."""

from django.db import migrations

FIRST = {
    "en": (
        "Thanks for your patience. I'm passing you to a member of our team; "
        "they'll reply right here in this chat shortly."
    ),
    "ja": (
        "お待たせしております。担当者におつなぎします。まもなくこちらのチャットでご返信いたします。"
    ),
}
WITH_PLACE = {
    "en": "Thanks for your patience. I'm passing you to a member of our team: you are number {position} in the queue, and the wait is {wait}. They'll reply right here in this chat.",
    "ja": "お待たせしております。担当者におつなぎします。現在{position}番目にお待ちいただいており、待ち時間は{wait}です。こちらのチャットでご返信いたします。",
}


def tell_the_place(apps, schema_editor):
    CustomerText = apps.get_model("handoff", "CustomerText")
    for language, first in FIRST.items():
        CustomerText.objects.filter(key="handover", language=language, text=first).update(
            text=WITH_PLACE[language]
        )


def as_first(apps, schema_editor):
    CustomerText = apps.get_model("handoff", "CustomerText")
    for language, text in WITH_PLACE.items():
        CustomerText.objects.filter(key="handover", language=language, text=text).update(
            text=FIRST[language]
        )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0022_customer_texts")]

    operations = [migrations.RunPython(tell_the_place, as_first)]
