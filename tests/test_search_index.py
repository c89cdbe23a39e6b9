"""The job list's free-text search (name__icontains → UPPER(name) LIKE UPPER('%word%')) has a
trigram index on PostgreSQL (migration 0008); on SQLite the migration does nothing. Whether
the planner picks it depends on table size: bench/views --postgres measures that."""

import pytest
from django.db import connection

from jobs.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]


def test_it_indexes_upper_name_with_trigrams_on_postgresql_only():
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assert "job_name_trgm" not in connection.introspection.get_constraints(cursor, Job._meta.db_table)
            return
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'job_name_trgm'")
        (indexdef,) = cursor.fetchone()
    # The expression must be the one Django's icontains produces, or the index is never usable.
    assert "USING gin (upper((name)::text) gin_trgm_ops)" in indexdef, indexdef
