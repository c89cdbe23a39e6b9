"""Services that write the cache: one sync per account and kind, plus tracking and refresh.

Public API (called by tasks, views, commands):

- ``sync_account(account, kinds=None, trigger="schedule", runs=None) -> list[SyncRun]``
  syncs each kind of one account under the account lease (one SyncRun per kind).
- ``sync_account_kind(account, kind, trigger="schedule") -> SyncRun`` one kind, same lease.
- ``start_manual_sync(account, kinds=None, trigger="manual") -> list[SyncRun]`` creates QUEUED
  runs and enqueues the Celery task after commit; a page polls the runs for progress
  (pages / seen / created / updated are written while the sync proceeds).
- ``track_jobs(account, kind, remote_ids) -> int`` registers short-job ids (no list API).
- ``refresh_job(job) -> SyncRun`` and ``start_job_refresh(job) -> SyncRun`` re-fetch one job.

Rules: no HTTP call inside a transaction; short transactions (one per batch of about
WRITE_BATCH_ROWS listed rows, that is several vendor pages, never held open while a page is
fetched); a resync with no remote change writes no Job row; a failed or partial listing never
marks anything gone.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.functional import cached_property

from jobs import providers as providers_package
from jobs.models import (
    ACTIVE_STATUSES,
    SETTLED_STATUSES,
    Assessment,
    AssessmentMetric,
    CloudAccount,
    Job,
    JobEvent,
    PROVIDER_KINDS,
    Kind,
    SyncRun,
)
from jobs.providers.base import (
    AssessmentRecord,
    AuthError,
    EventRecord,
    JobRecord,
    Listed,
    NotFoundError,
    ProviderError,
)
from jobs.status import unified_status

log = logging.getLogger(__name__)

# Kinds whose new or changed jobs need a detail / op-log fetch after the listing.
DETAIL_KINDS = {Kind.AVATAR_TRAINING.value, Kind.VOICE_TRAINING.value}
# Settled short jobs are re-read this rarely (they never change once settled, but may vanish).
SETTLED_SHORT_JOB_REFRESH = timedelta(hours=6)
# How often (seconds) the running SyncRun row gets its progress counters written.
PROGRESS_EVERY = 0.5
# Detail fetches are stored in groups of this many jobs per transaction.
DETAIL_CHUNK = 25
# SQLite WAL pages (4 KiB) between checkpoints during a listing (see _bulk_write_mode).
WAL_CHECKPOINT_PAGES = 25_000
SYNC_CACHE_KIB = 65536
# Pages fetched ahead of the one being written (bounded memory: this many pages).
PREFETCH_PAGES = 2
# A listing's writes go to the database in batches of about this many rows (several vendor
# pages: one SQLite commit per 100-row page cost a third of a 100k-job sync, see bench/sync),
# and no later than this many seconds after a batch's first row, so progress stays live.
WRITE_BATCH_ROWS = 1000
WRITE_BATCH_SECONDS = 1.0
# Up to this many cached jobs of an account and kind, a listing reads all their fingerprints in
# one query first (about 200 bytes each) instead of looking up every page's jobs.
KNOWN_FINGERPRINTS_MAX = 300_000
# IN-list size for queries that take many ids (below every backend's parameter limit).
IN_CHUNK = 500

# Columns a listing upsert writes on conflict (first_seen_at is kept from the insert).
UPSERT_FIELDS = [
    "name", "state", "status", "created_at", "updated_at", "started_at", "finished_at",
    "batch", "tags", "tags_text", "edition", "language", "linked_job_id", "asset_id",
    "error_code", "error_message", "payload", "fingerprint", "synced_at",
    "state_changed_at", "needs_detail", "gone", "gone_at",
]  # fmt: skip
# Columns a list record may leave empty while the detail fetch filled them: kept, not blanked.
STICKY_FIELDS = ["edition", "language", "linked_job_id", "asset_id", "error_code", "error_message",
                 "started_at", "finished_at"]  # fmt: skip


class IncompleteListing(ProviderError):
    """Every page answered, yet the listing cannot be complete (fewer distinct jobs than counted)."""


# ---------------------------------------------------------------- hashing


def _iso(dt):
    return dt.isoformat() if dt else ""


def _dumps(value) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _assessment_parts(a: AssessmentRecord | None):
    if a is None:
        return None
    return [a.suggestion, [[m.metric, m.expected, m.actual, m.status, m.suggestion, m.suggestion_en] for m in a.metrics]]


class JsonText(str):
    """A value already serialised to JSON (computed once for the fingerprint, reused to store)."""


def payload_json(payload) -> JsonText:
    # Keys stay in the vendor's order (stable for a given API); sorting would cost more than
    # the rare extra write a reordering vendor would cause. orjson: this runs for every listed
    # job, and it is 15x faster than json.dumps here (bench/sync).
    return JsonText(_plain_json(payload or {}))


def _normalisation_version() -> str:
    """A digest of the providers' code. A listed job's fingerprint covers its payload and
    this, so a release that normalises payloads differently re-normalises every cached job once
    (its next sync rewrites them) rather than keeping what the old code made of them."""
    digest = hashlib.sha1()
    for path in sorted(Path(providers_package.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


NORMALISATION_VERSION = _normalisation_version()


def listed_fingerprint(kind: str, payload: bytes) -> str:
    """Fingerprint of a listed job (base.Listed), from its payload's JSON: the job's record is
    made from that payload alone."""
    digest = _listed_digest(kind)
    digest.update(payload)
    return digest.hexdigest()


_LISTED_DIGESTS: dict[str, "hashlib._Hash"] = {}


def _listed_digest(kind: str):
    """A SHA-1 that has hashed the listed-job prefix of ``kind`` (a copy: the caller updates it)."""
    base = _LISTED_DIGESTS.get(kind)
    if base is None:
        base = _LISTED_DIGESTS[kind] = hashlib.sha1(f"listed\x1f{NORMALISATION_VERSION}\x1f{kind}\x1f".encode())
    return base.copy()


def record_fingerprint(rec: JobRecord, payload_text: str | None = None) -> str:
    """Hash of the normalised record, payload included: equal hash = nothing to write."""
    if payload_text is None:
        payload_text = payload_json(rec.payload)
    parts = [
        rec.kind, rec.remote_id, rec.name, rec.state, _iso(rec.created_at), _iso(rec.updated_at),
        _iso(rec.started_at), _iso(rec.finished_at), rec.batch, "\x1e".join(rec.tags), rec.edition,
        rec.language, rec.linked_job_id, rec.asset_id, rec.error_code, rec.error_message,
        _dumps(_assessment_parts(rec.assessment)) if rec.assessment is not None else "", payload_text,
    ]  # fmt: skip
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def _fingerprint(entry: JobRecord | Listed) -> tuple[bytes, str]:
    """(payload JSON as UTF-8, fingerprint) of one entry."""
    data = _json_bytes(entry.payload or {})
    if isinstance(entry, Listed):
        return data, listed_fingerprint(entry.kind, data)
    return data, record_fingerprint(entry, data.decode())


def _fingerprints(entries) -> list[tuple[bytes, str]]:
    """(payload JSON, fingerprint) of each entry, in order.

    The listing's hot path: a resync does this, one dict lookup and nothing else for an
    unchanged job. Listed payloads came from a JSON or XML parser (string keys, JSON values
    only), so the plain orjson call serves them; anything else takes _fingerprint."""
    out = []
    for entry in entries:
        if type(entry) is Listed and type(entry.payload) is dict:
            try:
                data = orjson.dumps(entry.payload)
            except TypeError:
                out.append(_fingerprint(entry))
                continue
            out.append((data, listed_fingerprint(entry.kind, data)))
        else:
            out.append(_fingerprint(entry))
    return out


def assessment_fingerprint(a: AssessmentRecord) -> str:
    return hashlib.sha1(_dumps(_assessment_parts(a)).encode()).hexdigest()


def event_key(source: str, occurred_at, action="", operator="", message="", details=None, extra="") -> str:
    """The natural key of an event: re-storing the same entry never duplicates it."""
    raw = _dumps([source, _iso(occurred_at), action, operator, message, details or {}, extra])
    return hashlib.sha1(raw.encode()).hexdigest()


# ---------------------------------------------------------------- small helpers


def _cut(value, length):
    value = value or ""
    return value if len(value) <= length else value[:length]


def _tags_text(tags) -> str:
    return _cut("|" + "|".join(tags) + "|", 1024) if tags else ""


def _chunks(seq, size=IN_CHUNK):
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _redact(text: str, account: CloudAccount) -> str:
    """Belt and braces: a provider already redacts, but no secret may reach a SyncRun row."""
    for secret in _secrets_of(account):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _secrets_of(account):
    out = []
    for getter in (account.get_secret_key, account.get_token, account.get_iam_password,
                   lambda: account.get_iam_token()[0]):  # fmt: skip
        try:
            out.append(getter())
        except Exception:  # undecryptable secrets cannot leak either
            pass
    return out


def _error_fields(exc: BaseException, account) -> dict:
    if isinstance(exc, ProviderError):
        code = exc.code or (f"HTTP {exc.status}" if exc.status else type(exc).__name__)
        message = exc.message or str(exc)
        if exc.status and str(exc.status) not in code:
            message = f"HTTP {exc.status}: {message}"
        return {
            "error_code": _cut(_redact(str(code), account), 64),
            "error_message": _redact(message, account),
            "request_id": _cut(exc.request_id, 128),
        }
    name = type(exc).__name__
    return {"error_code": _cut(name, 64), "error_message": _redact(str(exc) or name, account), "request_id": ""}


def run_reason(run: SyncRun) -> str:
    """One readable line: what failed, the vendor code and the request id."""
    parts = [f"{run.kind}:"]
    if run.error_code:
        parts.append(f"[{run.error_code}]")
    parts.append(run.error_message or run.outcome)
    if run.request_id:
        parts.append(f"(request id {run.request_id})")
    return " ".join(parts)


# ---------------------------------------------------------------- the lease


def claim_lease(account_id: int, owner: str, ttl: int | None = None) -> bool:
    """Claim the account's sync lease by a conditional UPDATE; an expired lease is free."""
    now = timezone.now()
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    claimed = (
        CloudAccount.objects.filter(pk=account_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=ttl))
    )
    return claimed == 1


def renew_lease(account_id: int, owner: str, ttl: int | None = None) -> bool:
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    until = timezone.now() + timedelta(seconds=ttl)
    return CloudAccount.objects.filter(pk=account_id, lease_owner=owner).update(lease_until=until) == 1


def release_lease(account_id: int, owner: str) -> None:
    CloudAccount.objects.filter(pk=account_id, lease_owner=owner).update(lease_owner="", lease_until=None)


# ---------------------------------------------------------------- prefetching pages


@contextmanager
def _bulk_write_mode():
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


_DONE = object()


class Prefetched:
    """Iterate `pages` as (page, prepared) while a helper thread fetches the next ones.

        with Prefetched(provider.iter_pages(kind), prepare=...) as pages:
            ...                       # the first pages are already being fetched
            for page, prepared in pages:
                ...

    The vendor answers the next page while this thread writes the current one, so a sync
    costs about max(listing, writing) instead of their sum. Order and error position are
    kept: pages before a ProviderError are yielded, then the error is raised here. The
    provider is used by the helper thread only, and no transaction waits on it. Leaving the
    block stops the helper (and closes `pages`) whether or not every page was taken.

    `prepare(page)` runs in the helper thread only while the buffer is full (the writer is
    the bottleneck and the helper would otherwise wait); `prepared` is its result or None.
    """

    def __init__(self, pages: Iterator, depth: int = PREFETCH_PAGES, prepare=None):
        self._pages = pages
        self._depth = depth
        self._prepare = prepare
        self._buffer: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._worker = None

    def __enter__(self):
        if self._depth > 0:
            self._worker = threading.Thread(target=self._produce, name="sync-prefetch", daemon=True)
            self._worker.start()
        return self

    def __exit__(self, *exc_info):
        if self._worker is None:
            self._close_pages()
            return
        self._stop.set()
        while self._worker.is_alive():  # unblock a producer waiting on a full buffer
            try:
                self._buffer.get(timeout=0.2)
            except queue.Empty:
                pass
        self._worker.join()

    def __iter__(self) -> Iterator:
        if self._worker is None:
            for page in self._pages:
                yield page, None
            return
        while True:
            page, prepared, exc = self._buffer.get()
            if exc is not None:
                raise exc
            if page is _DONE:
                return
            yield page, prepared

    def _produce(self):
        buffer, stop, prepare = self._buffer, self._stop, self._prepare
        try:
            for page in self._pages:
                item = (page, None, None)
                try:
                    buffer.put_nowait(item)
                    continue
                except queue.Full:
                    if prepare is not None:
                        item = (page, prepare(page), None)
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None, None))
        except BaseException as exc:  # handed over to the consumer, in sequence
            buffer.put((None, None, exc))
        finally:
            self._close_pages()

    def _close_pages(self):
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------- row building


@dataclass
class _Existing:
    id: int
    fingerprint: str
    state: str
    gone: bool


@dataclass
class _Write:
    """What one or more listing pages will write: rows to upsert, events, assessments."""

    rows: list = field(default_factory=list)
    events: list = field(default_factory=list)
    assessments: list = field(default_factory=list)  # (remote_id, AssessmentRecord)
    created: int = 0
    updated: int = 0
    since: float = 0.0  # time.monotonic() when the first row was added

    def __bool__(self):
        return bool(self.rows or self.events or self.assessments)

    def extend(self, other: _Write):
        if other and not self:
            self.since = other.since
        self.rows += other.rows
        self.events += other.events
        self.assessments += other.assessments
        self.created += other.created
        self.updated += other.updated


@dataclass
class _Counters:
    pages: int = 0
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_gone: int = 0
    events_created: int = 0
    details_fetched: int = 0
    remote_total: int | None = None
    fields: tuple = field(default=("pages", "seen", "created", "updated", "unchanged", "marked_gone",
                                   "events_created", "details_fetched", "remote_total"), repr=False)  # fmt: skip

    def apply(self, run: SyncRun):
        for name in self.fields:
            setattr(run, name, getattr(self, name))


def _row_from_record(account_id, rec: JobRecord, fp: str, payload_text, now, *, kind_has_detail: bool) -> dict:
    """The Job columns (by attname) a listing record sets."""
    created = rec.created_at or now
    updated = rec.updated_at or rec.created_at or now
    return {
        "account_id": account_id,
        "kind": rec.kind,
        "remote_id": rec.remote_id,
        "name": _cut(rec.name, 512),
        "state": _cut(rec.state, 64),
        "status": unified_status(rec.kind, rec.state),
        "created_at": created,
        "updated_at": updated,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "batch": _cut(rec.batch, 255),
        "tags": list(rec.tags),
        "tags_text": _tags_text(rec.tags),
        "edition": _cut(rec.edition, 64),
        "language": _cut(rec.language, 64),
        "linked_job_id": _cut(rec.linked_job_id, 128),
        "asset_id": _cut(rec.asset_id, 128),
        "error_code": _cut(rec.error_code, 64),
        "error_message": rec.error_message or "",
        "payload": payload_text,
        "fingerprint": fp,
        "first_seen_at": now,
        "synced_at": now,
        # A job first seen mid-state: the vendor's last update is the best start we know.
        "state_changed_at": min(updated, now),
        "needs_detail": kind_has_detail,
        "gone": False,
        "gone_at": None,
    }


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


def _relaxed_commit():
    """PostgreSQL: don't wait for this page's WAL flush. A crash can lose the last fraction of
    a second of cache writes (never corrupt anything); the next sync rewrites them. Saves an
    fsync per write batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


class _JobUpsert:
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
            qn("account_id"), qn("kind"), qn("remote_id"),
            ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in update_columns),
        )  # fmt: skip
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
            with self._cursor() as cursor:
                _execute_raw(cursor, sql, params)
                if returning:
                    for pk, remote_id in cursor.fetchall():
                        ids[remote_id] = pk
        return ids

    def _cursor(self):
        self.conn.ensure_connection()
        if self.postgres:
            from psycopg import Cursor  # Django's own cursors bind on the client side

            # A server-side-binding cursor on the same connection (and transaction): arrays
            # go over as typed binary values, not as thousands of escaped literals.
            return Cursor(self.conn.connection)
        return closing(self.conn.connection.cursor())


def _execute_raw(cursor, sql, params):
    """Run on a driver cursor, but still show up in Django's query log (query counters in
    tests, debug tooling): bypassing the wrapper must not hide a write."""
    start = time.monotonic()
    cursor.execute(sql, params)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})


def _json_text(value):
    return str(value) if isinstance(value, JsonText) else _plain_json(value)


def _plain_json(value) -> str:
    return _json_bytes(value).decode()


def _json_bytes(value) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def _record_from_job(job: Job) -> JobRecord:
    return JobRecord(
        kind=job.kind,
        remote_id=job.remote_id,
        name=job.name,
        state=job.state,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        batch=job.batch,
        tags=tuple(job.tags or ()),
        edition=job.edition,
        language=job.language,
        linked_job_id=job.linked_job_id,
        asset_id=job.asset_id,
        error_code=job.error_code,
        error_message=job.error_message,
        payload=job.payload or {},
    )


def _store_events(job_id: int, events: Iterable[EventRecord]) -> int:
    """Insert the vendor events not stored yet (natural key); returns how many were new."""
    rows = {}
    for ev in events:
        key = event_key(ev.source, ev.occurred_at, ev.action, ev.operator, ev.message, ev.details)
        rows[key] = JobEvent(
            job_id=job_id,
            occurred_at=ev.occurred_at,
            source=ev.source,
            action=_cut(ev.action, 128),
            operator=_cut(ev.operator, 32),
            message=ev.message or "",
            details=ev.details or {},
            key=key,
        )
    if not rows:
        return 0
    known = set(JobEvent.objects.filter(job_id=job_id, key__in=list(rows)).values_list("key", flat=True))
    new = [row for key, row in rows.items() if key not in known]
    JobEvent.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def store_assessments(items: list[tuple[int, AssessmentRecord]]) -> int:
    """Create or replace assessments (with their metrics) whose content changed."""
    if not items:
        return 0
    by_job = {job_id: a for job_id, a in items}
    prints = {job_id: assessment_fingerprint(a) for job_id, a in by_job.items()}
    existing = dict(Assessment.objects.filter(job_id__in=list(by_job)).values_list("job_id", "fingerprint"))
    changed = [job_id for job_id in by_job if existing.get(job_id) != prints[job_id]]
    if not changed:
        return 0
    now = timezone.now()
    rows = [
        Assessment(job_id=job_id, suggestion=by_job[job_id].suggestion or "", fingerprint=prints[job_id], updated_at=now)
        for job_id in changed
    ]
    Assessment.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["job"], update_fields=["suggestion", "fingerprint", "updated_at"]
    )
    ids = dict(Assessment.objects.filter(job_id__in=changed).values_list("job_id", "id"))
    AssessmentMetric.objects.filter(assessment_id__in=list(ids.values())).delete()
    metrics = []
    for job_id in changed:
        seen = set()
        for position, m in enumerate(by_job[job_id].metrics):
            if m.metric in seen:
                continue
            seen.add(m.metric)
            metrics.append(
                AssessmentMetric(
                    assessment_id=ids[job_id],
                    metric=_cut(m.metric, 16),
                    position=position,
                    expected=_cut(m.expected, 255),
                    actual=_cut(m.actual, 255),
                    status=m.status,
                    suggestion=m.suggestion or "",
                    suggestion_en=m.suggestion_en or "",
                )
            )
    AssessmentMetric.objects.bulk_create(metrics)
    return len(changed)


# ---------------------------------------------------------------- one account and kind


class _KindSync:
    """Listing phase (pages → upserts → gone marking), then the detail phase, for one kind."""

    def __init__(self, account: CloudAccount, kind: str, provider, run: SyncRun):
        self.account = account
        self.kind = kind
        self.provider = provider
        self.run = run
        self.counters = _Counters()
        self.seen_ids: set[str] = set()
        self.has_detail = kind in DETAIL_KINDS
        self.calls_at_start = provider.api_calls
        self._progress_at = 0.0
        self.lease_owner = ""
        self._lease_renewed = time.monotonic()
        self._analyze_at = 1000
        # remote_id -> fingerprint of the cached jobs (not gone), read before a listing.
        self.known: dict[str, str] | None = None

    # -- progress
    def _progress(self, force=False):
        now = time.monotonic()
        if not force and now - self._progress_at < PROGRESS_EVERY:
            return
        self._progress_at = now
        self.counters.apply(self.run)
        self.run.api_calls = self.provider.api_calls - self.calls_at_start
        SyncRun.objects.filter(pk=self.run.pk).update(
            api_calls=self.run.api_calls, **{name: getattr(self.counters, name) for name in self.counters.fields}
        )
        if self.lease_owner and now - self._lease_renewed > settings.SYNC_LEASE_SECONDS / 3:
            renew_lease(self.account.pk, self.lease_owner)
            self._lease_renewed = now

    # -- the listing
    def list_all(self):
        with _bulk_write_mode():
            self._list_all()

    def _list_all(self):
        pending = _Write()
        pages = Prefetched(self.provider.iter_pages(self.kind), prepare=lambda page: _fingerprints(page.entries))
        try:
            with pages:
                # Read while the helper thread already fetches the first pages.
                self.known = self._known_fingerprints()
                for page, prepared in pages:
                    if page.total is not None:
                        self.counters.remote_total = page.total
                    pending.extend(self._plan(page.entries, prepared))
                    self.counters.pages += 1
                    if pending and (
                        len(pending.rows) >= WRITE_BATCH_ROWS or time.monotonic() - pending.since >= WRITE_BATCH_SECONDS
                    ):
                        batch, pending = pending, _Write()
                        self._write(batch)
                    self._progress()
        except Exception as exc:
            # Pages read before a vendor error (or a time limit) are still stored; after a
            # database error the next sync writes them.
            if pending and not isinstance(exc, DatabaseError):
                self._write(pending)
            self.known = None
            raise
        if pending:
            self._write(pending)
        total = self.counters.remote_total
        if total is not None and len(self.seen_ids) < total:
            # Offset paging over a list that moved under us skips jobs: what we saw is stored,
            # but marking the unseen ones gone would be wrong.
            raise IncompleteListing(
                f"the vendor counted {total} jobs but the pages held {len(self.seen_ids)} distinct ones "
                "(the list changed while paging); nothing was marked gone",
                code="incomplete_listing",
            )

    def list_tracked(self, budget: int):
        """Short jobs have no list API: re-read each tracked job that may still change."""
        stale = timezone.now() - SETTLED_SHORT_JOB_REFRESH
        due = (
            Job.objects.filter(account=self.account, kind=self.kind, gone=False)
            .filter(~Q(status__in=SETTLED_STATUSES) | Q(synced_at__lt=stale) | Q(needs_detail=True))
            .order_by("synced_at")
            .values_list("remote_id", flat=True)[:budget]
        )
        batch, missing = [], []
        for remote_id in list(due):
            rec = self.provider.get_job(self.kind, remote_id)
            if rec is None:
                missing.append(remote_id)
            else:
                batch.append(rec)
            if len(batch) >= 50:
                self.store_records(batch)
                self.counters.pages += 1
                batch = []
                self._progress()
        if batch:
            self.store_records(batch)
            self.counters.pages += 1
        if missing:
            self.counters.marked_gone += self._mark_gone_by_remote_id(missing)
        self._progress(force=True)

    def store_records(self, records: list[JobRecord], prepared: list | None = None):
        self._write(self._plan(records, prepared))

    def _plan(self, entries: list[JobRecord] | list[Listed], prepared: list | None = None) -> _Write:
        """What storing `entries` takes (reads only): the rows that are new or changed.

        Listed jobs are normalised into records only when their fingerprint differs from the
        cached one, so a resync mostly hashes payloads. A malformed new or changed job raises
        ResponseError here, before anything of its page counts as seen."""
        # De-duplicate within the page (last wins) and across pages (first page wins).
        positions = {}
        for position, entry in enumerate(entries):
            rid = entry.remote_id
            if not rid or len(rid) > 128 or entry.kind != self.kind:
                log.warning("skipping a %s record with an unusable id %r", self.kind, rid[:64] if rid else rid)
                continue
            if rid in self.seen_ids:
                continue
            positions[rid] = position
        if not positions:
            return _Write()

        page = {rid: entries[position] for rid, position in positions.items()}
        if prepared is None:
            fingerprints = dict(zip(page, _fingerprints(page.values())))
        else:
            fingerprints = {rid: prepared[position] for rid, position in positions.items()}
        known = self.known
        if known is not None:
            # A resync's common case: every fingerprint matches and no query is needed. A job
            # not cached before the listing is new without a lookup (one that someone else
            # added since is updated by the upsert all the same).
            fresh, maybe = [], []
            for rid in page:
                cached = known.get(rid)
                if cached is None:
                    fresh.append(rid)
                elif cached != fingerprints[rid][1]:
                    maybe.append(rid)
        else:
            fresh, maybe = [], list(page)
        existing = self._existing(maybe) if maybe else {}
        new, changed = [], []
        for rid in fresh + maybe:
            data, fp = fingerprints[rid]
            old = existing.get(rid)
            if old is not None and old.fingerprint == fp and not old.gone:
                continue
            entry = page[rid]
            rec = entry.record() if isinstance(entry, Listed) else entry
            if old is None:
                new.append((rec, fp, data))
            else:
                changed.append((rec, fp, data, old))
        self.seen_ids.update(page)
        self.counters.seen += len(page)
        self.counters.unchanged += len(page) - len(new) - len(changed)
        if not new and not changed:
            return _Write()

        now = timezone.now()
        current = self._current([old.id for *_, old in changed]) if changed else {}
        rows, events = [], []
        for rec, fp, data in new:
            rows.append(_row_from_record(self.account.pk, rec, fp, JsonText(data.decode()), now,
                                         kind_has_detail=self.has_detail))  # fmt: skip
        for rec, fp, data, old in changed:
            row = _row_from_record(self.account.pk, rec, fp, JsonText(data.decode()), now,
                                   kind_has_detail=self.has_detail)  # fmt: skip
            cur = current[old.id]
            self._keep_sticky(row, rec, cur)
            row["state_changed_at"] = cur["state_changed_at"]
            if old.state != row["state"]:
                # The vendor's update time is exact for voice jobs; fall back to now.
                prev = cur["state_changed_at"]
                t = rec.updated_at if rec.updated_at and prev < rec.updated_at <= now else now
                row["state_changed_at"] = t
                if old.state:  # a tracked placeholder has no previous state to report
                    events.append(
                        JobEvent(
                            job_id=old.id,
                            occurred_at=t,
                            source=JobEvent.Source.OBSERVED,
                            from_state=old.state,
                            to_state=row["state"],
                            details={"status": row["status"]},
                            key=event_key("observed", t, extra=f"{old.state}>{row['state']}"),
                        )
                    )
            rows.append(row)

        assessments = [
            (rec.remote_id, rec.assessment) for rec, *_ in (*new, *changed) if rec.assessment is not None
        ]
        return _Write(rows, events, assessments, len(new), len(changed), time.monotonic())

    def _write(self, batch: _Write):
        """One short transaction (no HTTP inside): upsert the rows, add events and assessments."""
        if not batch:
            return
        with transaction.atomic():
            _relaxed_commit()
            ids = self.upsert(batch.rows, returning=bool(batch.assessments))
            if batch.events:
                JobEvent.objects.bulk_create(batch.events, ignore_conflicts=True)
            store_assessments([(ids[rid], a) for rid, a in batch.assessments if rid in ids])
        self.counters.created += batch.created
        self.counters.updated += batch.updated
        self.counters.events_created += len(batch.events)
        self._refresh_statistics()

    def _known_fingerprints(self) -> dict[str, str] | None:
        """remote_id -> fingerprint of every cached job of this account and kind ("" for a job
        marked gone, so that it never matches), or None above KNOWN_FINGERPRINTS_MAX (each page
        then looks its jobs up instead)."""
        qn = connection.ops.quote_name
        mark = "%s" if connection.vendor == "postgresql" else "?"
        known = {}
        with self.upsert._cursor() as cursor:
            _execute_raw(
                cursor,
                "SELECT {rid}, CASE WHEN {gone} THEN '' ELSE {fp} END FROM {table} "
                "WHERE {account} = {mark} AND {kind} = {mark}".format(
                    rid=qn("remote_id"), fp=qn("fingerprint"), table=qn(Job._meta.db_table),
                    account=qn("account_id"), kind=qn("kind"), gone=qn("gone"), mark=mark,
                ),  # fmt: skip
                [self.account.pk, self.kind],
            )
            while rows := cursor.fetchmany(5000):
                known.update(rows)
                if len(known) > KNOWN_FINGERPRINTS_MAX:
                    return None
        return known

    def _refresh_statistics(self):
        """PostgreSQL plans the per-page lookup from table statistics; a first sync that grows
        the table tenfold before autovacuum notices would make each lookup scan the whole
        account. Re-analyse as the table grows (at 1k, 10k, 100k… rows created)."""
        if connection.vendor != "postgresql" or self.counters.created < self._analyze_at:
            return
        self._analyze_at = self.counters.created * 10
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + connection.ops.quote_name(Job._meta.db_table))

    def _existing(self, remote_ids) -> dict[str, _Existing]:
        """(id, fingerprint, state, gone) of this page's jobs already cached: one indexed query."""
        qn = connection.ops.quote_name
        out = {}
        postgres = connection.vendor == "postgresql"
        with self.upsert._cursor() as cursor:
            for chunk in _chunks(remote_ids):
                if postgres:
                    match, params = "= ANY(%b::text[])", [self.account.pk, self.kind, chunk]
                else:
                    match, params = "IN ({})".format(", ".join(["?"] * len(chunk))), [self.account.pk, self.kind, *chunk]
                mark = "%s" if postgres else "?"
                _execute_raw(
                    cursor,
                    "SELECT {rid}, {id}, {fp}, {state}, {gone} FROM {table} "
                    "WHERE {account} = {mark} AND {kind} = {mark} AND {rid} {match}".format(
                        rid=qn("remote_id"), id=qn("id"), fp=qn("fingerprint"), state=qn("state"), gone=qn("gone"),
                        table=qn(Job._meta.db_table), account=qn("account_id"), kind=qn("kind"), match=match,
                        mark=mark,
                    ),  # fmt: skip
                    params,
                )
                for rid, pk, fp, state, gone in cursor.fetchall():
                    out[rid] = _Existing(pk, fp, state, bool(gone))
        return out

    def _current(self, ids) -> dict[int, dict]:
        """What a changed job holds now that a list record must not blank (see _keep_sticky)."""
        current = {}
        for chunk in _chunks(ids):
            for row in Job.objects.filter(pk__in=chunk).values(
                "id", "payload", "created_at", "updated_at", "state_changed_at", *STICKY_FIELDS
            ):
                current[row["id"]] = row
        return current

    @cached_property
    def upsert(self):
        return _JobUpsert(connection)

    @staticmethod
    def _keep_sticky(row, rec, cur):
        """A changed list record must not blank what the detail fetch filled in."""
        for name in STICKY_FIELDS:
            if not row[name] and cur[name]:
                row[name] = cur[name]
        if rec.created_at is None:
            row["created_at"] = cur["created_at"]
        if rec.updated_at is None and rec.created_at is None:
            row["updated_at"] = cur["updated_at"]
        if isinstance(cur["payload"], dict) and set(cur["payload"]) - set(rec.payload or {}):
            row["payload"] = {**cur["payload"], **(rec.payload or {})}

    def mark_gone(self):
        """After a complete listing: flag (never delete) jobs the vendor no longer lists."""
        known, self.known = self.known, None
        if known is not None:
            # The jobs cached (and not gone) before the listing; a job added since by someone
            # else waits for the next listing.
            absent = [rid for rid, fp in known.items() if fp and rid not in self.seen_ids]
            self.counters.marked_gone += sum(self._mark_gone_by_remote_id(chunk) for chunk in _chunks(absent))
            return
        absent = []
        rows = Job.objects.filter(account_id=self.account.pk, kind=self.kind, gone=False).values_list("id", "remote_id")
        for pk, rid in rows.iterator(chunk_size=5000):
            if rid not in self.seen_ids:
                absent.append(pk)
        now = timezone.now()
        marked = 0
        for chunk in _chunks(absent):
            marked += Job.objects.filter(pk__in=chunk, gone=False).update(gone=True, gone_at=now, needs_detail=False)
        self.counters.marked_gone += marked

    def _mark_gone_by_remote_id(self, remote_ids):
        now = timezone.now()
        return Job.objects.filter(
            account_id=self.account.pk, kind=self.kind, remote_id__in=remote_ids, gone=False
        ).update(gone=True, gone_at=now, needs_detail=False)

    # -- the detail phase
    def fetch_details(self, budget: int):
        """Detail / op-logs for new or changed jobs, in-progress first, within the budget.

        Raises the ProviderError that stopped the phase (the listing is already stored)."""
        if not self.has_detail or budget <= 0:
            return
        queue = list(
            Job.objects.filter(account_id=self.account.pk, kind=self.kind, needs_detail=True, gone=False)
            .annotate(
                active=Case(When(status__in=ACTIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
            )
            .order_by("active", "-updated_at", "-id")[:budget]
        )
        first_error = None
        for group in _chunks(queue, DETAIL_CHUNK):
            fetched = []
            for job in group:
                try:
                    fetched.append((job, self.provider.fetch_detail(_record_from_job(job))))
                except ProviderError as exc:
                    if isinstance(exc, NotFoundError):
                        # Gone from the vendor; the next complete listing flags it.
                        Job.objects.filter(pk=job.pk).update(needs_detail=False)
                        continue
                    first_error = first_error or exc
                    if _stops_details(exc):
                        break  # throttled, down or unauthorised: later jobs would fail the same way
                    # One job's unusable detail must not starve the others: keep going.
            self._store_details(fetched)
            self._progress()
            if first_error is not None and _stops_details(first_error):
                break
        if first_error is not None:
            raise first_error

    def _store_details(self, fetched):
        if not fetched:
            return
        now = timezone.now()
        with transaction.atomic():
            assessments = []
            for job, detail in fetched:
                rec = detail.record
                updates = {"needs_detail": False, "detail_synced_at": now, "synced_at": now}
                for name in STICKY_FIELDS + ["name", "batch"]:
                    value = getattr(rec, name)
                    if value and value != getattr(job, name):
                        limit = Job._meta.get_field(name).max_length
                        updates[name] = _cut(value, limit) if limit else value
                if rec.tags and list(rec.tags) != list(job.tags or []):
                    updates["tags"] = list(rec.tags)
                    updates["tags_text"] = _tags_text(rec.tags)
                if rec.payload:
                    updates["payload"] = {**(job.payload or {}), **rec.payload}
                Job.objects.filter(pk=job.pk).update(**updates)
                self.counters.events_created += _store_events(job.pk, detail.events)
                if rec.assessment is not None:
                    assessments.append((job.pk, rec.assessment))
                self.counters.details_fetched += 1
            store_assessments(assessments)


def _stops_details(exc: ProviderError) -> bool:
    """Throttled, down or unauthorised: the remaining detail fetches would fail the same way."""
    return not exc.permanent or isinstance(exc, AuthError)


def _finish_run(run: SyncRun, ks: _KindSync | None, outcome: str, exc: BaseException | None, account):
    if ks is not None:
        ks.counters.apply(run)
        run.api_calls = ks.provider.api_calls - ks.calls_at_start
    run.outcome = outcome
    run.finished_at = timezone.now()
    if exc is not None:
        for name, value in _error_fields(exc, account).items():
            setattr(run, name, value)
        run.retryable = isinstance(exc, ProviderError) and not exc.permanent
        run.auth_failed = isinstance(exc, AuthError)
    else:
        run.retryable = False
        run.auth_failed = False
    run.save()
    return run


def _run_kind(account, kind, provider, run: SyncRun, lease_owner: str, budget: int) -> SyncRun:
    """Both phases for one kind; records the outcome on `run`. Never raises a ProviderError."""
    run.outcome = SyncRun.Outcome.RUNNING
    run.started_at = timezone.now()
    run.save(update_fields=["outcome", "started_at"])
    ks = _KindSync(account, kind, provider, run)
    ks.lease_owner = lease_owner
    try:
        if kind == Kind.VOICE_ASSESSMENT:
            ks.list_tracked(budget)
        else:
            ks.list_all()
            ks.mark_gone()
    except ProviderError as exc:
        # Pages stored so far stay; nothing is marked gone from an incomplete listing.
        outcome = SyncRun.Outcome.PARTIAL if ks.counters.pages else SyncRun.Outcome.FAILED
        log.warning("sync %s/%s stopped: %s", account.name, kind, _redact(str(exc), account))
        return _finish_run(run, ks, outcome, exc, account)
    except Exception as exc:
        log.exception("sync %s/%s crashed", account.name, kind)
        _finish_run(run, ks, SyncRun.Outcome.FAILED, exc, account)
        if _is_time_limit(exc):
            raise
        return run
    try:
        ks.fetch_details(budget)
    except ProviderError as exc:
        log.warning("detail fetch %s/%s stopped: %s", account.name, kind, _redact(str(exc), account))
        return _finish_run(run, ks, SyncRun.Outcome.PARTIAL, exc, account)
    except Exception as exc:
        log.exception("detail fetch %s/%s crashed", account.name, kind)
        _finish_run(run, ks, SyncRun.Outcome.PARTIAL, exc, account)
        if _is_time_limit(exc):
            raise
        return run
    return _finish_run(run, ks, SyncRun.Outcome.SUCCEEDED, None, account)


def _is_time_limit(exc):
    return type(exc).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded")


def _get_provider(account):
    from jobs.providers import get_provider

    return get_provider(account)


def _prepare_runs(account, kinds, trigger, runs):
    by_kind = {run.kind: run for run in (runs or [])}
    now = timezone.now()
    for kind, run in by_kind.items():
        if kind not in kinds and run.outcome == SyncRun.Outcome.QUEUED:
            # Queued for a kind the account no longer syncs: close it rather than leave it waiting.
            run.outcome = SyncRun.Outcome.SKIPPED
            run.finished_at = now
            run.error_message = "this account no longer syncs this kind"
            run.save()
    return [by_kind.get(kind) or SyncRun(account=account, kind=kind, trigger=trigger) for kind in kinds]


def sync_account(account: CloudAccount, kinds=None, trigger="schedule", runs=None, provider=None) -> list[SyncRun]:
    """Sync the given kinds (default: all the account syncs) under the account lease.

    `runs` are SyncRun rows created earlier (QUEUED, e.g. by start_manual_sync) to fill in.
    Returns one finished SyncRun per kind; SKIPPED ones when another sync holds the lease.
    """
    offered = account.sync_kinds()
    kinds = [k for k in (kinds or offered) if k in offered]
    runs = _prepare_runs(account, kinds, trigger, runs)
    if not runs:
        return []
    owner = uuid.uuid4().hex
    if not claim_lease(account.pk, owner):
        now = timezone.now()
        for run in runs:
            run.outcome = SyncRun.Outcome.SKIPPED
            run.finished_at = now
            run.error_message = "another sync of this account was running"
            run.retryable = False
            run.save()
        return runs
    try:
        for run in runs:  # visible at once as running/queued on the sync page
            if run.pk is None:
                run.outcome = SyncRun.Outcome.QUEUED
                run.save()
        try:
            provider = provider or _get_provider(account)
        except Exception as exc:  # bad stored credential, unknown provider
            log.warning("cannot build a provider for %s: %s", account.name, type(exc).__name__)
            for run in runs:
                _finish_run(run, None, SyncRun.Outcome.FAILED, exc, account)
            _update_account(account, runs)
            return runs
        budget = settings.SYNC_DETAIL_BUDGET
        auth_error = None
        for run in runs:
            if auth_error is not None:
                # The same credentials would be refused again: no call, same reason.
                _finish_run(run, None, SyncRun.Outcome.FAILED, auth_error, account)
                continue
            _run_kind(account, run.kind, provider, run, owner, budget)
            if getattr(run, "auth_failed", False):
                auth_error = AuthError(run.error_message, code=run.error_code, request_id=run.request_id)
        provider.save_state()
        _update_account(account, runs)
        return runs
    finally:
        release_lease(account.pk, owner)


def sync_account_kind(account: CloudAccount, kind: str, trigger="schedule", provider=None) -> SyncRun:
    """Sync one kind of one account (see sync_account)."""
    runs = sync_account(account, [kind], trigger=trigger, provider=provider)
    if not runs:
        raise ValueError(f"account {account.name} does not sync {kind}")
    return runs[0]


def _update_account(account, runs):
    now = timezone.now()
    failed = [r for r in runs if r.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.PARTIAL)]
    fields = {
        "last_sync_at": now,
        "has_active_jobs": Job.objects.filter(account=account, status__in=ACTIVE_STATUSES, gone=False).exists(),
    }
    if failed:
        fields["last_error"] = "; ".join(run_reason(r) for r in failed)
        fields["last_error_at"] = now
    else:
        fields["last_success_at"] = now
        fields["last_error"] = ""
    CloudAccount.objects.filter(pk=account.pk).update(**fields)
    for name, value in fields.items():
        setattr(account, name, value)


# ---------------------------------------------------------------- entry points for views/tasks


def start_manual_sync(account: CloudAccount, kinds=None, trigger="manual") -> list[SyncRun]:
    """Create QUEUED SyncRuns and enqueue the sync after commit; poll the runs for progress."""
    from jobs import tasks

    offered = account.sync_kinds()
    kinds = [k for k in (kinds or offered) if k in offered]
    runs = [SyncRun.objects.create(account=account, kind=k, trigger=trigger, outcome=SyncRun.Outcome.QUEUED) for k in kinds]
    if runs:
        run_ids = [r.pk for r in runs]
        transaction.on_commit(
            lambda: tasks.sync_account.apply_async(
                args=[account.pk], kwargs={"kinds": kinds, "trigger": trigger, "run_ids": run_ids}
            )
        )
    return runs


def track_jobs(account: CloudAccount, kind: str, remote_ids: Iterable[str]) -> int:
    """Register job ids the vendor cannot list (short jobs); the next sync fetches them.

    Returns how many were new. Ids already tracked are left as they are."""
    if kind not in [k.value for k in PROVIDER_KINDS.get(account.provider, [])]:
        raise ValueError(f"{account.name} ({account.provider}) has no {kind!r} jobs")
    ids = []
    for raw in remote_ids:
        rid = (raw or "").strip()
        if rid and len(rid) <= 128 and rid not in ids:
            ids.append(rid)
    if not ids:
        return 0
    now = timezone.now()
    known = dict(Job.objects.filter(account=account, kind=kind, remote_id__in=ids).values_list("remote_id", "gone"))
    rows = [
        Job(
            account=account,
            kind=kind,
            remote_id=rid,
            created_at=now,
            updated_at=now,
            first_seen_at=now,
            synced_at=now,
            state_changed_at=now,
            needs_detail=True,
        )
        for rid in ids
        if rid not in known
    ]
    Job.objects.bulk_create(rows, ignore_conflicts=True)
    gone = [rid for rid, is_gone in known.items() if is_gone]
    if gone:  # tracking a gone job again brings it back
        Job.objects.filter(account=account, kind=kind, remote_id__in=gone).update(
            gone=False, gone_at=None, needs_detail=True
        )
    return len(rows)


def refresh_job(job: Job, run: SyncRun | None = None, provider=None) -> SyncRun:
    """Re-fetch one job (and its detail) now, under the account lease."""
    account = job.account
    run = run or SyncRun(account=account, kind=job.kind, trigger="refresh")
    owner = uuid.uuid4().hex
    if not claim_lease(account.pk, owner):
        run.outcome = SyncRun.Outcome.SKIPPED
        run.finished_at = timezone.now()
        run.error_message = "another sync of this account was running"
        run.save()
        return run
    try:
        run.outcome = SyncRun.Outcome.RUNNING
        run.started_at = timezone.now()
        run.save()
        ks = None
        try:
            provider = provider or _get_provider(account)
            ks = _KindSync(account, job.kind, provider, run)
            rec = provider.get_job(job.kind, job.remote_id)
            if rec is None:
                ks.counters.marked_gone += ks._mark_gone_by_remote_id([job.remote_id])
            else:
                ks.store_records([rec])
                ks.counters.pages = 1
                Job.objects.filter(pk=job.pk).update(needs_detail=job.kind in DETAIL_KINDS)
                ks.fetch_details(1)
        except Exception as exc:
            _finish_run(run, ks, SyncRun.Outcome.FAILED, exc, account)
            if not isinstance(exc, ProviderError):
                log.exception("refresh of job %s crashed", job.pk)
            return run
        return _finish_run(run, ks, SyncRun.Outcome.SUCCEEDED, None, account)
    finally:
        release_lease(account.pk, owner)


def start_job_refresh(job: Job) -> SyncRun:
    """Create a QUEUED refresh run for one job and enqueue it after commit."""
    from jobs import tasks

    run = SyncRun.objects.create(account=job.account, kind=job.kind, trigger="refresh", outcome=SyncRun.Outcome.QUEUED)
    transaction.on_commit(lambda: tasks.refresh_job.apply_async(args=[job.pk], kwargs={"run_id": run.pk}))
    return run


def due_accounts(now=None) -> list[CloudAccount]:
    """Enabled accounts whose interval has passed (the active interval while jobs move)."""
    now = now or timezone.now()
    out = []
    for account in CloudAccount.objects.filter(enabled=True):
        interval = account.active_sync_interval if account.has_active_jobs else account.sync_interval
        last = max([t for t in (account.last_sync_at, account.sync_enqueued_at) if t], default=None)
        if last is None or last <= now - timedelta(seconds=interval):
            out.append(account)
    return out


def mark_enqueued(account: CloudAccount, now=None) -> bool:
    """Record that a sync was enqueued, unless another dispatcher just did (conditional UPDATE)."""
    now = now or timezone.now()
    prev = account.sync_enqueued_at
    qs = CloudAccount.objects.filter(pk=account.pk)
    qs = qs.filter(sync_enqueued_at__isnull=True) if prev is None else qs.filter(sync_enqueued_at=prev)
    return qs.update(sync_enqueued_at=now) == 1


def expire_abandoned_runs(now=None) -> int:
    """Runs left QUEUED/RUNNING by a worker that died or a task that expired: mark them failed."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=max(settings.SYNC_LEASE_SECONDS, 300) * 2)
    return SyncRun.objects.filter(
        outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING], started_at__lt=limit
    ).update(
        outcome=SyncRun.Outcome.FAILED,
        finished_at=now,
        error_code="abandoned",
        error_message="the sync never finished (worker stopped or task expired)",
    )
