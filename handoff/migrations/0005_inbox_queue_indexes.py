"""Indexes for the inbox queues that had to sort every row of their queue per page.

"resolved" (newest resolved first) and "all" (latest activity first) had no index in
their order, so SQLite sorted the whole queue in a temporary B-tree for every page;
resolved conversations only ever grow.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0004_inbox"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["state", "resolved_at"], name="conv_state_resolved"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["last_message_at"], name="conv_recent"),
        ),
    ]
