"""The incremental refresh of one listable kind: read only what can have changed.

A full listing costs one call per 100 jobs on every refresh (1,000 calls for 100,000 jobs), all
against a tenant quota of 10–20 requests/s. Between full listings (CloudAccount.
full_sync_interval) a refresh relies only on documented list parameters:

1. the jobs in unsettled states (the ``state`` / ``states`` filter: everything but succeeded,
   failed and cancelled, jobs.status.unsettled_states), which are the jobs that move;
2. the head of the listing, newest first, until a page holds no job unknown before this refresh:
   jobs created since the last refresh, including any that settled before we saw them;
3. each cached job that was unsettled but is not listed as such any more, read once by id
   (Provider.get_jobs; CI reads many ids in one call): it settled, so this is its final state.

Creation and update times are not used: their query formats are undocumented and the avatar
``last_update_time`` moves on user edits, not on state changes (docs/vendors/huawei-metastudio.md
§11). What this misses until the next full listing: a settled job that changes again without
becoming unsettled, a payload edit of a settled job, and jobs that vanished (only a full
listing marks jobs gone).
"""

from __future__ import annotations

from jobs.models import SETTLED_STATUSES, Job
from jobs.providers.base import Page
from jobs.status import unsettled_states
from jobs.sync.kind import KindSync
from jobs.sync.sql import chunks

# Ids per get_jobs call: one request on CI, one per id on MetaStudio (each takes a token).
READ_GROUP = 50


def list_changed(ks: KindSync, budget: int) -> None:
    """Steps 1–3 above for ``ks``'s account and kind; at most ``budget`` jobs read by id."""
    provider, kind = ks.provider, ks.kind
    ks.consume(provider.iter_pages(kind, states=unsettled_states(kind)))

    known = ks.known or {}

    def nothing_new(page: Page) -> bool:
        return all(known.get(entry.remote_id) for entry in page.entries)

    ks.consume(provider.iter_pages(kind, newest_first=True, fetch_ahead=False), depth=0, stop=nothing_new)

    # Cached as unsettled (unknown states included), not listed as such now: read each once.
    left = [
        remote_id
        for remote_id in Job.objects.filter(account_id=ks.account.pk, kind=kind, gone=False)
        .exclude(status__in=SETTLED_STATUSES)
        .order_by("synced_at")
        .values_list("remote_id", flat=True)
        .iterator(chunk_size=2000)
        if remote_id not in ks.seen_ids
    ][:budget]
    for group in chunks(left, READ_GROUP):
        found = provider.get_jobs(kind, group)
        ks.store_records([record for record in found.values() if record is not None])
        ks.progress()
    ks.progress(force=True)
