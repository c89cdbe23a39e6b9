"""rebuildrollups: recompute the batch/tag roll-ups and the failure triage totals of every
account and kind from the cached jobs (jobs.rollups). Each sync run refreshes its own account
and kind; run this after restoring a database, after editing jobs by hand, or after a change
to the triage signature's backfill. Safe while syncs run (each partition is replaced in one
transaction)."""

import time

from django.core.management.base import BaseCommand

from jobs import rollups


class Command(BaseCommand):
    help = "Recompute the batch/tag roll-ups and failure triage totals from the cached jobs."

    def handle(self, *args, **opts):
        started = time.monotonic()
        n = rollups.refresh_all()
        self.stdout.write(f"refreshed {n} account/kind partition(s) in {time.monotonic() - started:.1f}s")
