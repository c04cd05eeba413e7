"""PostgreSQL indexes that serve the inbox queues' page order without a sort.

SQLite's indexes end with the rowid and put NULLs where the queues want them, so the
model's indexes already give each queue its exact order there. PostgreSQL's do
neither: these name the id tie-breaker and the NULL placement of each queue's order
(handoff.selectors.inbox._ordering). SQLite cannot declare NULLS FIRST/LAST on an index,
so they are created on PostgreSQL only, and nothing is done elsewhere.
"""

from django.db import migrations

TABLE = "handoff_conversation"
INDEXES = {
    "conv_pg_waiting": "(state, escalated_at ASC NULLS FIRST, id)",
    "conv_pg_resolved": "(state, resolved_at DESC NULLS LAST, id DESC)",
    "conv_pg_state_recent": "(state, last_message_at, id)",
    "conv_pg_assignee": "(assignee_id, state, last_message_at, id)",
    "conv_pg_recent": "(last_message_at, id)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} {columns}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("handoff", "0006_bot_settings")]

    operations = [migrations.RunPython(create, drop)]
