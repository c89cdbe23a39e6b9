"""PostgreSQL only: a trigram index for the job list's free-text search.

The list searches names with `name__icontains` (UPPER(name) LIKE UPPER('%word%')), which no
B-tree can serve; on PostgreSQL a GIN trigram index on UPPER(name) can. SQLite has no
equivalent and keeps scanning the updated_at keyset index. pg_trgm is a trusted extension
(PostgreSQL 13+), so the database owner may create it.
"""

from django.db import migrations

INDEX = "job_name_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("jobs", "Job")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON {table} USING gin (UPPER(name) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("jobs", "0007_job_job_overview_counts")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
