"""Rows of a queryset as the database driver gives them, for the summary pages that read a few
thousand small rows: Django's per-row converters (a datetime, a date, a JSON field) and model
instances cost 10-20 us a row, most of a page's time at 1,000,000 jobs (bench/views, profiled).

The values arrive as each backend's driver gives them: datetimes naive (UTC) on SQLite, aware
on PostgreSQL; dates as dates (or ISO text); JSON as text (Django loads jsonb as text on
PostgreSQL too). Callers convert only what they keep."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet


def fetch(qs: QuerySet) -> list[tuple]:
    """The ORM's own statement for ``qs`` (a values_list) on a plain cursor."""
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # e.g. name__in=[]: the ORM knows there is nothing to read
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def json_value(value):
    return json.loads(value) if isinstance(value, str) else value


def day(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def moment(value) -> datetime | None:
    """An aware datetime from a stored datetime column (UTC where the driver gives it naive),
    None for NULL."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
