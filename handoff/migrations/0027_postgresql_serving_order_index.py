"""The PostgreSQL index that serves the Waiting queue's serving order without a sort.

Migration 0026 orders the waiting queue by `serve_by` (ascending, NULLs last), then
`escalated_at` (ascending, NULLs first), then id (handoff.selectors.desk.SERVING_ORDER).
As in 0007, SQLite's model index already gives that order there; PostgreSQL's needs
the NULL placement and the id named, which SQLite cannot declare, so this runs on
PostgreSQL only.
"""

from django.db import migrations

TABLE = "handoff_conversation"
NAME = "conv_pg_serving_order"
COLUMNS = "(state, serve_by ASC NULLS LAST, escalated_at ASC NULLS FIRST, id)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON {TABLE} {COLUMNS}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("handoff", "0026_window_aware_order")]

    operations = [migrations.RunPython(create, drop)]
