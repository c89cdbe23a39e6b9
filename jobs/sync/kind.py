"""One account and kind: the listing (pages -> planned rows -> batched upserts -> gone
marking), and how a job read by id is stored. Reads by id: jobs.sync.byid; details: jobs.sync.details."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.functional import cached_property

from jobs import stages
from jobs.models import CloudAccount, Job, JobEvent, Kind, SyncRun
from jobs.providers.base import JobRecord, Listed, Page, Provider, ProviderError
from jobs.sync.fingerprints import JsonText, event_key, fingerprints
from jobs.sync.lease import Lease, LeaseLost
from jobs.sync.prefetch import PREFETCH_PAGES, Prefetched
from jobs.sync.rows import CURRENT_FIELDS, keep_sticky, row_from_record
from jobs.sync.sql import JobUpsert, ListingReads, bulk_write_mode, chunks, relaxed_commit
from jobs.sync.store import store_assessments

log = logging.getLogger(__name__)

# Kinds whose new or changed jobs need a detail / op-log fetch after the listing.
DETAIL_KINDS = {Kind.AVATAR_TRAINING.value, Kind.VOICE_TRAINING.value}
# How often (seconds) the running SyncRun row gets its progress counters written.
PROGRESS_EVERY = 0.5
# A listing's writes go to the database in batches of about this many rows (several vendor
# pages: one SQLite commit per 100-row page cost a third of a 100k-job sync, see bench/sync),
# and no later than this many seconds after a batch's first row, so progress stays live.
WRITE_BATCH_ROWS = 1000
WRITE_BATCH_SECONDS = 1.0
# Up to this many cached jobs of an account and kind, a listing reads all their fingerprints in
# one query first (about 200 bytes each) instead of looking up every page's jobs.
KNOWN_FINGERPRINTS_MAX = 300_000


class IncompleteListing(ProviderError):
    """Every page answered, yet the listing cannot be complete (fewer distinct jobs than counted)."""


@dataclass
class Write:
    """What one or more listing pages will write: rows to upsert, events, assessments."""

    rows: list = field(default_factory=list)
    events: list = field(default_factory=list)
    assessments: list = field(default_factory=list)  # (remote_id, AssessmentRecord)
    created: int = 0
    updated: int = 0
    since: float = 0.0  # time.monotonic() when the first row was added
    back: list = field(default_factory=list)  # ids of jobs listed again after going gone (jobs.stages)

    def __bool__(self):
        return bool(self.rows or self.events or self.assessments)

    def extend(self, other: Write) -> None:
        if other and not self:
            self.since = other.since
        self.rows += other.rows
        self.events += other.events
        self.assessments += other.assessments
        self.back += other.back
        self.created += other.created
        self.updated += other.updated


@dataclass
class Counters:
    pages: int = 0
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_gone: int = 0
    events_created: int = 0
    details_fetched: int = 0
    remote_total: int | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The counters' names, each a SyncRun column of the same name."""
        return tuple(f.name for f in dataclasses.fields(self))

    def apply(self, run: SyncRun) -> None:
        for name in self.fields:
            setattr(run, name, getattr(self, name))


class KindSync:
    """Listing phase (pages → upserts → gone marking) for one kind; jobs.sync.details reads the details after it."""

    def __init__(self, account: CloudAccount, kind: str, provider: Provider, run: SyncRun, lease: Lease | None = None):
        self.account = account
        self.kind = kind
        self.provider = provider
        self.run = run
        self.counters = Counters()
        self.seen_ids: set[str] = set()
        self.new_ids: set[str] = set()  # the jobs this run cached for the first time
        self.has_detail = kind in DETAIL_KINDS
        self.calls_at_start = self.call_counts()
        self._progress_at = 0.0
        # The account lease this sync holds (jobs.sync.lease; None: the caller fences nothing,
        # as in tests of the listing alone). Every write checks it (``guarded``).
        self.lease = lease
        # remote_id -> fingerprint of the cached jobs (not gone), read before a listing.
        self.known: dict[str, str] | None = None
        # Every payload key a listed job had, in the vendor's order (see as_listed): what the
        # kind's previous listings learnt, merged with this one's; and the key sequences merged.
        self.listed_keys: list[str] = list(
            SyncRun.objects.filter(account_id=account.pk, kind=kind)
            .exclude(listed_keys=[])
            .order_by("-pk")
            .values_list("listed_keys", flat=True)
            .first()
            or []
        )
        self._key_shapes: set[tuple[str, ...]] = set()

    # -- calls, progress and the lease
    def call_counts(self) -> tuple[int, int, int]:
        """The provider's (attempts, failed attempts, throttled attempts) so far."""
        p = self.provider
        return p.api_calls, getattr(p, "failed_calls", 0), getattr(p, "throttled_calls", 0)

    def apply_calls(self, run: SyncRun) -> None:
        """This run's share of the provider's call counters."""
        now, start = self.call_counts(), self.calls_at_start
        run.api_calls, run.failed_calls, run.throttled = (now[i] - start[i] for i in range(3))

    def progress(self, force: bool = False) -> None:
        if self.lease is not None:
            self.lease.check()  # a sync that lost its lease stops here, before more calls or writes
        now = time.monotonic()
        if not force and now - self._progress_at < PROGRESS_EVERY:
            return
        self._progress_at = now
        self.counters.apply(self.run)
        self.apply_calls(self.run)
        SyncRun.objects.filter(pk=self.run.pk).update(
            api_calls=self.run.api_calls,
            failed_calls=self.run.failed_calls,
            throttled=self.run.throttled,
            **{name: getattr(self.counters, name) for name in self.counters.fields},
        )

    @contextmanager
    def guarded(self):
        """A transaction whose writes count only while this sync holds its account's lease
        (Lease.fence: LeaseLost otherwise, and nothing of it is written)."""
        with transaction.atomic():
            if self.lease is not None:
                self.lease.fence()
            yield

    # -- the listing
    def list_all(self) -> None:
        """The full listing (a reconciliation: afterwards mark_gone may flag what is missing)."""
        with bulk_write_mode():
            self.consume(self.provider.iter_pages(self.kind), count_total=True)
        total = self.counters.remote_total
        if total is not None and len(self.seen_ids) < total:
            # Offset paging over a list that moved under us skips jobs: what we saw is stored,
            # but marking the unseen ones gone would be wrong.
            raise IncompleteListing(
                f"the vendor counted {total} jobs but the pages held {len(self.seen_ids)} distinct ones "
                "(the list changed while paging); nothing was marked gone",
                code="incomplete_listing",
            )

    def consume(
        self,
        pages: Iterator[Page],
        *,
        depth: int = PREFETCH_PAGES,
        count_total: bool = False,
        stop: Callable[[Page], bool] | None = None,
    ) -> None:
        """Store the jobs of ``pages`` in batched writes; ``stop(page)`` after a page ends early.

        ``depth`` pages are fetched ahead by a helper thread (0: none, for a listing that will
        stop early: every request costs the tenant's quota)."""
        pending = Write()
        prefetched = Prefetched(pages, depth=depth, prepare=lambda page: fingerprints(page.entries))
        try:
            with prefetched:
                if self.known is None:  # read while the helper thread already fetches the first pages
                    self.known = self.reads.known_fingerprints()
                for page, prepared in prefetched:
                    self._learn_keys(page.entries)
                    if count_total and page.total is not None:
                        self.counters.remote_total = page.total
                    pending.extend(self._plan(page.entries, prepared))
                    self.counters.pages += 1
                    if pending and (
                        len(pending.rows) >= WRITE_BATCH_ROWS or time.monotonic() - pending.since >= WRITE_BATCH_SECONDS
                    ):
                        batch, pending = pending, Write()
                        self._write(batch)
                    self.progress()
                    if stop is not None and stop(page):
                        break
        except Exception as exc:
            # Pages read before a vendor error (or a time limit) are still stored; after a
            # database error the next sync writes them, and after a lost lease nothing is.
            if pending and not isinstance(exc, (DatabaseError, LeaseLost)):
                self._write(pending)
            self.known = None
            raise
        if pending:
            self._write(pending)

    def store_records(self, records: list[JobRecord], prepared: list | None = None) -> None:
        self._write(self._plan(records, prepared))

    def _learn_keys(self, entries: list) -> None:
        """Merge the key order of each new shape of listed payload into listed_keys (a key the
        order lacks goes right after the key before it in that payload). Items of one vendor
        list share one key order and differ only in which optional keys they carry."""
        shapes, order = self._key_shapes, self.listed_keys
        for entry in entries:
            if type(entry) is not Listed:
                continue
            keys = tuple(entry.payload)
            if keys in shapes:
                continue
            shapes.add(keys)
            at = 0
            for key in keys:
                if key in order:
                    at = order.index(key) + 1
                else:
                    order.insert(at, key)
                    at += 1

    def as_listed(self, record: JobRecord) -> tuple[bytes, str]:
        """(payload JSON, fingerprint) for a job read by id, as its listing entry would give
        them: the record's payload cut to the keys listed jobs have, in the listing's order (a
        MetaStudio Show body is a superset of the list item; a CI read by id has the list's own
        shape). Then the next listing of the job, unchanged, matches it and writes nothing,
        instead of rewriting the job and reading its detail again. Where the two differ after
        all, that listing rewrites the job once, as it would without this."""
        payload = record.payload
        if not self.listed_keys or not payload:
            return fingerprints([record])[0]
        cut = {key: payload[key] for key in self.listed_keys if key in payload}
        return fingerprints([Listed(record.kind, record.remote_id, cut, None)])[0]

    def _plan(self, entries: list[JobRecord] | list[Listed], prepared: list | None = None) -> Write:
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
            return Write()

        page = {rid: entries[position] for rid, position in positions.items()}
        if prepared is None:
            prints = dict(zip(page, fingerprints(page.values())))
        else:
            prints = {rid: prepared[position] for rid, position in positions.items()}
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
                elif cached != prints[rid][1]:
                    maybe.append(rid)
        else:
            fresh, maybe = [], list(page)
        existing = self.reads.existing(maybe) if maybe else {}
        new, changed = [], []
        for rid in fresh + maybe:
            data, fp = prints[rid]
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
        self.new_ids.update(rec.remote_id for rec, *_ in new)
        self.counters.seen += len(page)
        self.counters.unchanged += len(page) - len(new) - len(changed)
        if not new and not changed:
            return Write()

        now = timezone.now()
        current = self._current([old.id for *_, old in changed]) if changed else {}
        rows, events = [], []
        for rec, fp, data in new:
            rows.append(
                row_from_record(self.account.pk, rec, fp, JsonText(data.decode()), now, kind_has_detail=self.has_detail)
            )
        for rec, fp, data, old in changed:
            row = row_from_record(
                self.account.pk, rec, fp, JsonText(data.decode()), now, kind_has_detail=self.has_detail
            )
            cur = current[old.id]
            keep_sticky(row, rec, cur)
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

        assessments = [(rec.remote_id, rec.assessment) for rec, *_ in (*new, *changed) if rec.assessment is not None]
        back = [old.id for *_, old in changed if old.gone]
        return Write(rows, events, assessments, len(new), len(changed), time.monotonic(), back)

    def _write(self, batch: Write):
        """One short transaction (no HTTP inside): upsert the rows, add events and assessments."""
        if not batch:
            return
        with self.guarded():
            relaxed_commit()
            ids = self.upsert(batch.rows, returning=bool(batch.assessments) or self.kind in stages.TIMED_KINDS)
            if batch.events:
                JobEvent.objects.bulk_create(batch.events, ignore_conflicts=True)
            store_assessments([(ids[rid], a) for rid, a in batch.assessments if rid in ids])
            stages.after_write(self.kind, batch.events, batch.back, ids)  # stretches that moved
        self.counters.created += batch.created
        self.counters.updated += batch.updated
        self.counters.events_created += len(batch.events)
        self.reads.refresh_statistics(self.counters.created)

    def _current(self, ids) -> dict[int, dict]:
        """What a changed job holds now that a list record must not blank (see rows.keep_sticky)."""
        current = {}
        for chunk in chunks(ids):
            for row in Job.objects.filter(pk__in=chunk).values(*CURRENT_FIELDS):
                current[row["id"]] = row
        return current

    @cached_property
    def upsert(self) -> JobUpsert:
        return JobUpsert(connection)

    @cached_property
    def reads(self) -> ListingReads:
        return ListingReads(self.upsert, self.account.pk, self.kind, KNOWN_FINGERPRINTS_MAX)

    def mark_gone(self) -> None:
        """After a complete listing: flag (never delete) jobs the vendor no longer lists."""
        known, self.known = self.known, None
        if known is not None:
            # The jobs cached (and not gone) before the listing; a job added since by someone
            # else waits for the next listing.
            absent = [rid for rid, fp in known.items() if fp and rid not in self.seen_ids]
            self.counters.marked_gone += sum(self.mark_gone_by_remote_id(chunk) for chunk in chunks(absent))
            return
        absent = []
        rows = Job.objects.filter(account_id=self.account.pk, kind=self.kind, gone=False).values_list("id", "remote_id")
        for pk, rid in rows.iterator(chunk_size=5000):
            if rid not in self.seen_ids:
                absent.append(pk)
        now = timezone.now()
        marked = 0
        for chunk in chunks(absent):
            with self.guarded():
                marked += Job.objects.filter(pk__in=chunk, gone=False).update(
                    gone=True, gone_at=now, needs_detail=False
                )
        self.counters.marked_gone += marked

    def mark_gone_by_remote_id(self, remote_ids: list[str]) -> int:
        now = timezone.now()
        with self.guarded():
            return Job.objects.filter(
                account_id=self.account.pk, kind=self.kind, remote_id__in=remote_ids, gone=False
            ).update(gone=True, gone_at=now, needs_detail=False)
