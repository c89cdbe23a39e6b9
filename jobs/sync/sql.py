"""The only module with raw SQL: the bulk upsert of listed jobs, the fingerprint and
existing-job reads of a listing, and the SQLite/PostgreSQL settings a long listing runs under.

Each piece of raw SQL replaces an ORM call that bench/sync profiled as the bottleneck; the
figure is beside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection

from jobs.models import Job
from jobs.sync.fingerprints import JsonText, plain_json
from jobs.sync.rows import UPSERT_FIELDS

# SQLite WAL pages (4 KiB) between checkpoints during a listing (see bulk_write_mode).
WAL_CHECKPOINT_PAGES = 25_000
SYNC_CACHE_KIB = 65536
# IN-list size for queries that take many ids (below every backend's parameter limit).
IN_CHUNK = 500


def chunks(seq: Iterable, size: int = IN_CHUNK) -> Iterator[list]:
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@contextmanager
def bulk_write_mode() -> Iterator[None]:
    """SQLite: checkpoint the WAL once after a long listing rather than every 4 MB of it
    (each checkpoint fsyncs; a first sync of 100k jobs would pay hundreds of them)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        previous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA cache_size")
        previous_cache = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA wal_autocheckpoint={max(previous, WAL_CHECKPOINT_PAGES)}")
        # The job table's many indexes get random inserts: keep their pages in memory.
        cursor.execute(f"PRAGMA cache_size=-{SYNC_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={previous}")
            cursor.execute(f"PRAGMA cache_size={previous_cache}")


def _sqlite_datetime(value):
    # What Django's SQLite backend stores for an aware datetime (naive UTC, str()), 5x cheaper.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _json_param(conn, encoder):
    if encoder is None:
        return _json_text
    ops = conn.ops

    def adapt(value):
        return str(value) if isinstance(value, JsonText) else ops.adapt_json_value(value, encoder)

    return adapt


def relaxed_commit() -> None:
    """PostgreSQL: don't wait for this page's WAL flush. A crash can lose the last fraction of
    a second of cache writes (never corrupt anything); the next sync rewrites them. Saves an
    fsync per write batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


class JobUpsert:
    """INSERT … ON CONFLICT (account, kind, remote_id) DO UPDATE … RETURNING id, remote_id.

    The statement bulk_create(update_conflicts=True) would send, built directly: Django's
    per-value preparation cost more than the database's work (profiled with bench/sync).
    SQLite (>= 3.35) gets one multi-row VALUES list; PostgreSQL gets one array per column
    through unnest(), so the driver binds 28 parameters instead of thousands.
    """

    ROWS_PER_STATEMENT = 200

    def __init__(self, conn):
        ops = conn.ops
        qn = ops.quote_name
        self.conn = conn
        self.postgres = conn.vendor == "postgresql"
        self.fields = [f for f in Job._meta.concrete_fields if not f.primary_key]
        preps = []
        for f in self.fields:
            internal = f.get_internal_type()
            if internal == "DateTimeField" and conn.vendor == "sqlite":
                preps.append(_sqlite_datetime)
            elif internal == "DateTimeField":
                preps.append(ops.adapt_datetimefield_value)
            elif internal == "JSONField":
                preps.append(_json_text if self.postgres else _json_param(conn, f.encoder))
            else:
                preps.append(None)
        # Columns another part of the app may add later get their model default.
        self.columns = [(f.attname, f.get_default()) for f in self.fields]
        self.converted = [(i, prep) for i, prep in enumerate(preps) if prep is not None]
        update_columns = [Job._meta.get_field(name).column for name in UPSERT_FIELDS]
        columns = ", ".join(qn(f.column) for f in self.fields)
        self.head = f"INSERT INTO {qn(Job._meta.db_table)} ({columns}) "
        self.tail = " ON CONFLICT ({}, {}, {}) DO UPDATE SET {}".format(
            qn("account_id"),
            qn("kind"),
            qn("remote_id"),
            ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in update_columns),
        )
        self.returning = " RETURNING {}, {}".format(qn("id"), qn("remote_id"))
        if self.postgres:
            arrays = ", ".join(f"%b::{f.db_type(conn)}[]" for f in self.fields)
            self.pg_sql = f"{self.head}SELECT * FROM unnest({arrays}){self.tail}"
        self.row_sql_qmark = "(" + ", ".join(["?"] * len(self.fields)) + ")"

    def _values(self, row, memo) -> list:
        """The row's parameters in column order (a hot loop: 29 columns per listed job)."""
        values = [row[name] if name in row else default for name, default in self.columns]
        for i, prep in self.converted:
            value = values[i]
            if value is None:
                continue
            if prep is _sqlite_datetime:
                # A batch's rows share their sync time: convert each datetime once.
                text = memo.get(value)
                if text is None:
                    text = memo[value] = _sqlite_datetime(value)
                values[i] = text
            else:
                values[i] = prep(value)
        return values

    def __call__(self, rows: list[dict], returning=True) -> dict[str, int]:
        """Upsert `rows`; with `returning`, answer {remote_id: id} of every row."""
        ids = {}
        memo = {}
        tail = self.returning if returning else ""
        for start in range(0, len(rows), self.ROWS_PER_STATEMENT):
            chunk = rows[start : start + self.ROWS_PER_STATEMENT]
            if self.postgres:
                sql = self.pg_sql + tail
                params = [list(column) for column in zip(*[self._values(row, memo) for row in chunk])]
            else:
                # sqlite3's own "?" style on its own cursor: Django's wrapper would rewrite
                # every "%s" of this long statement with a regex on each call.
                sql = self.head + "VALUES " + ", ".join([self.row_sql_qmark] * len(chunk)) + self.tail + tail
                params = []
                for row in chunk:
                    params += self._values(row, memo)
            with self.cursor() as cursor:
                execute_raw(cursor, sql, params)
                if returning:
                    for pk, remote_id in cursor.fetchall():
                        ids[remote_id] = pk
        return ids

    def cursor(self) -> AbstractContextManager:
        self.conn.ensure_connection()
        if self.postgres:
            # Imported here: only a PostgreSQL deployment loads the driver. Django's own
            # cursors bind on the client side.
            from psycopg import Cursor

            # A server-side-binding cursor on the same connection (and transaction): arrays
            # go over as typed binary values, not as thousands of escaped literals.
            return Cursor(self.conn.connection)
        return closing(self.conn.connection.cursor())


def execute_raw(cursor: Any, sql: str, params: list) -> None:
    """Run on a driver cursor, but still show up in Django's query log (query counters in
    tests, debug tooling): bypassing the wrapper must not hide a write."""
    start = time.monotonic()
    cursor.execute(sql, params)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})


def _json_text(value):
    return str(value) if isinstance(value, JsonText) else plain_json(value)


@dataclass
class Existing:
    """What a listing needs of a cached job to decide whether a listed one changed it."""

    id: int
    fingerprint: str
    state: str
    gone: bool


class ListingReads:
    """The reads of one listing (account and kind) on the upsert's driver cursor."""

    def __init__(self, upsert: JobUpsert, account_id: int, kind: str, known_max: int):
        self.upsert = upsert
        self.account_id = account_id
        self.kind = kind
        self.known_max = known_max
        self._analyze_at = 1000

    def known_fingerprints(self) -> dict[str, str] | None:
        """remote_id -> fingerprint of every cached job of this account and kind ("" for a job
        marked gone, so that it never matches), or None above ``known_max`` (each page
        then looks its jobs up instead)."""
        qn = connection.ops.quote_name
        mark = "%s" if connection.vendor == "postgresql" else "?"
        known = {}
        with self.upsert.cursor() as cursor:
            execute_raw(
                cursor,
                "SELECT {rid}, CASE WHEN {gone} THEN '' ELSE {fp} END FROM {table} "
                "WHERE {account} = {mark} AND {kind} = {mark}".format(
                    rid=qn("remote_id"),
                    fp=qn("fingerprint"),
                    table=qn(Job._meta.db_table),
                    account=qn("account_id"),
                    kind=qn("kind"),
                    gone=qn("gone"),
                    mark=mark,
                ),
                [self.account_id, self.kind],
            )
            while rows := cursor.fetchmany(5000):
                known.update(rows)
                if len(known) > self.known_max:
                    return None
        return known

    def refresh_statistics(self, created: int) -> None:
        """PostgreSQL plans the per-page lookup from table statistics; a first sync that grows
        the table tenfold before autovacuum notices would make each lookup scan the whole
        account. Re-analyse as the table grows (at 1k, 10k, 100k… rows created)."""
        if connection.vendor != "postgresql" or created < self._analyze_at:
            return
        self._analyze_at = created * 10
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + connection.ops.quote_name(Job._meta.db_table))

    def existing(self, remote_ids: list[str]) -> dict[str, Existing]:
        """(id, fingerprint, state, gone) of this page's jobs already cached: one indexed query."""
        qn = connection.ops.quote_name
        out = {}
        postgres = connection.vendor == "postgresql"
        with self.upsert.cursor() as cursor:
            for chunk in chunks(remote_ids):
                if postgres:
                    match, params = "= ANY(%b::text[])", [self.account_id, self.kind, chunk]
                else:
                    match, params = (
                        "IN ({})".format(", ".join(["?"] * len(chunk))),
                        [self.account_id, self.kind, *chunk],
                    )
                mark = "%s" if postgres else "?"
                execute_raw(
                    cursor,
                    "SELECT {rid}, {id}, {fp}, {state}, {gone} FROM {table} "
                    "WHERE {account} = {mark} AND {kind} = {mark} AND {rid} {match}".format(
                        rid=qn("remote_id"),
                        id=qn("id"),
                        fp=qn("fingerprint"),
                        state=qn("state"),
                        gone=qn("gone"),
                        table=qn(Job._meta.db_table),
                        account=qn("account_id"),
                        kind=qn("kind"),
                        match=match,
                        mark=mark,
                    ),
                    params,
                )
                for rid, pk, fp, state, gone in cursor.fetchall():
                    out[rid] = Existing(pk, fp, state, bool(gone))
        return out
