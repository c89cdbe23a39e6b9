"""Services that write the cache: one sync per account and kind, plus tracking and refresh.

Public API (called by tasks, views, commands; import it from here, ``from jobs import sync``):

- ``sync_account(account, kinds=None, trigger="schedule", runs=None) -> list[SyncRun]``
  syncs each kind of one account under the account lease (one SyncRun per kind; runs created
  earlier as QUEUED, e.g. by ``jobs.tasks.start_manual_sync``, are filled in). Pages / seen /
  created / updated are written to the run while the sync proceeds, so a page can poll it.
- ``sync_account_kind(account, kind, trigger="schedule") -> SyncRun`` one kind, same lease.
- ``refresh_job(job, run=None) -> SyncRun`` re-fetches one job (and its detail) now.
- ``track_jobs(account, kind, remote_ids) -> int`` registers short-job ids (no list API).
- ``due_accounts()``, ``mark_enqueued(account)``, ``expire_abandoned_runs()`` for the scheduler.
- ``claim_lease`` / ``renew_lease`` / ``release_lease``, ``run_reason(run)``,
  ``error_fields(exc, account)`` and ``redact(text, account)`` for callers that report failures.

Rules: no HTTP call inside a transaction; short transactions (one per batch of about
WRITE_BATCH_ROWS listed rows, that is several vendor pages, never held open while a page is
fetched); a resync with no remote change writes no Job row; a failed or partial listing never
marks anything gone. This package never imports jobs.tasks: enqueueing lives there.

Modules, from the bottom up: ``rows`` (the one table of Job columns), ``fingerprints``,
``sql`` (all raw SQL), ``prefetch``, ``store`` (events, assessments), ``lease``, ``errors``,
``kind`` (the listing of one kind), ``details`` (its detail phase), ``runs``, ``schedule``.
"""

from jobs.sync.errors import error_fields, redact, run_reason
from jobs.sync.fingerprints import event_key, listed_fingerprint, payload_json, record_fingerprint
from jobs.sync.lease import claim_lease, release_lease, renew_lease
from jobs.sync.runs import refresh_job, sync_account, sync_account_kind, track_jobs
from jobs.sync.schedule import due_accounts, expire_abandoned_runs, mark_enqueued
from jobs.sync.store import store_assessments, store_events

__all__ = [
    "claim_lease",
    "due_accounts",
    "error_fields",
    "event_key",
    "expire_abandoned_runs",
    "listed_fingerprint",
    "mark_enqueued",
    "payload_json",
    "record_fingerprint",
    "redact",
    "refresh_job",
    "release_lease",
    "renew_lease",
    "run_reason",
    "store_assessments",
    "store_events",
    "sync_account",
    "sync_account_kind",
    "track_jobs",
]
