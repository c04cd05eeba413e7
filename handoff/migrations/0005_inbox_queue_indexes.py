"""Indexes for the inbox queues that had to sort every row of their queue per page.

"resolved" (newest resolved first) and "all" (latest activity first) had no index in
their order, so SQLite sorted the whole queue in a temporary B-tree for every page;
resolved conversations only ever grow. Database only for now: handoff/models.py is
owned elsewhere, so the model state is left alone (declare them in
Conversation.Meta.indexes with a state-only migration when models.py next changes).
"""

from django.db import migrations, models


INDEXES = [
    models.Index(fields=["state", "resolved_at"], name="conv_state_resolved"),
    models.Index(fields=["last_message_at"], name="conv_recent"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("handoff", "0004_inbox"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddIndex(model_name="conversation", index=index) for index in INDEXES
            ],
            state_operations=[],
        )
    ]
