"""The incremental refresh of one listable kind: read only what can have changed.

A full listing costs one call per 100 jobs on every refresh (1,000 calls for 100,000 jobs), all
against a tenant quota of 10–20 requests/s. Between full listings (CloudAccount.
full_sync_interval) a refresh relies only on documented list parameters:

1. the jobs in the states the vendor moves by itself (the ``state`` / ``states`` filter:
   queued, reviewing, running; jobs.status.moving_states), and every SYNC_WAITING_INTERVAL
   (SyncRun mode ``waiting``) the jobs waiting on a person as well (needs action, paused:
   jobs.status.waiting_states). Those wait for an upload, a confirmation or a resume, often
   for good (an abandoned draft), and a person's action normally moves them into a state of
   the first kind, which the next refresh lists;
2. the head of the listing, newest first, until a page holds no job unknown before this refresh:
   jobs created since the last refresh, including any that settled before we saw them;
3. each cached job of the states listed in 1 that is not listed any more, read once by id
   (Provider.get_jobs; CI reads many ids in one call): it settled, or started waiting on a
   person, so this is its current state.

Creation and update times are not used: their query formats are undocumented and the avatar
``last_update_time`` moves on user edits, not on state changes (docs/vendors/huawei-metastudio.md
§11). What this misses until the next full listing: a settled job that changes again without
becoming unsettled, a payload edit of a settled job, and jobs that vanished (only a full
listing marks jobs gone); until the next ``waiting`` refresh: a job waiting on a person that
settles or changes without passing through a moving state.
"""

from __future__ import annotations

from jobs.models import SETTLED_STATUSES, WAITING_STATUSES, Job
from jobs.providers.base import Page, ProviderError
from jobs.status import moving_states, waiting_states
from jobs.sync.byid import read_by_id
from jobs.sync.kind import KindSync
from jobs.sync.pool import stops_reads


def list_changed(ks: KindSync, budget: int, waiting: bool = False) -> ProviderError | None:
    """Steps 1–3 above for ``ks``'s account and kind (``waiting``: with the jobs waiting on a
    person); at most ``budget`` jobs read by id. Returns the first error about one job read by
    id (the others were read; the run ends partial after its detail phase); raises one that
    stopped the reads (throttled, down, refused)."""
    provider, kind = ks.provider, ks.kind
    states = moving_states(kind) + (waiting_states(kind) if waiting else [])
    ks.consume(provider.iter_pages(kind, states=states))

    def nothing_new(page: Page) -> bool:
        ids = [entry.remote_id for entry in page.entries]
        if ks.known is not None:
            return all(ks.known.get(remote_id) for remote_id in ids)
        # Too many jobs to hold their fingerprints: look the page up (this run's writes excluded).
        return len(ks.reads.existing(ids)) == len(set(ids)) and not ks.new_ids.intersection(ids)

    ks.consume(provider.iter_pages(kind, newest_first=True, fetch_ahead=False), depth=0, stop=nothing_new)

    # Cached in a listed status (unknown states included), not listed as such now: read each once.
    unlisted = SETTLED_STATUSES if waiting else SETTLED_STATUSES + WAITING_STATUSES
    left = [
        remote_id
        for remote_id in Job.objects.filter(account_id=ks.account.pk, kind=kind, gone=False)
        .exclude(status__in=unlisted)
        .order_by("synced_at")
        .values_list("remote_id", flat=True)
        .iterator(chunk_size=2000)
        if remote_id not in ks.seen_ids
    ][:budget]
    try:
        read_by_id(ks, left)
    except ProviderError as exc:
        if stops_reads(exc):
            raise
        return exc
    finally:
        ks.progress(force=True)
    return None
