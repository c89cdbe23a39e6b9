"""rebuildstages [ACCOUNT ...] [--wait SECONDS]: recompute the stage analytics (every job's
stretches and the per-day summary, jobs.stages) from the cached events.

The sync keeps them current as jobs change; run this after restoring a database, after editing
jobs or events by hand, or after a change to the dwell histogram's buckets. Each account is
rebuilt in one transaction under its sync lease (waiting up to --wait seconds for a running sync
to finish), so a sync never writes stretches the rebuild then misses."""

import time
import uuid

from django.core.management.base import BaseCommand, CommandError

from jobs import stages
from jobs.models import CloudAccount
from jobs.sync import claim_lease, release_lease
from jobs.sync.lease import LeaseKeeper


class Command(BaseCommand):
    help = "Recompute every job's stage stretches and the Stages page's summary from the cached events."

    def add_arguments(self, parser):
        parser.add_argument("accounts", nargs="*", help="account names (default: every account)")
        parser.add_argument("--wait", type=float, default=300, help="seconds to wait for an account's running sync")

    def handle(self, *args, accounts, wait, **opts):
        chosen = CloudAccount.objects.order_by("name")
        if accounts:
            chosen = chosen.filter(name__in=accounts)
            missing = set(accounts) - set(chosen.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no account named {', '.join(sorted(missing))}")
        skipped = []
        for account in chosen:
            owner = f"rebuildstages-{uuid.uuid4().hex[:8]}"
            deadline = time.monotonic() + wait
            lease = claim_lease(account.pk, owner)
            while lease is None and time.monotonic() < deadline:
                time.sleep(1)
                lease = claim_lease(account.pk, owner)
            if lease is None:
                skipped.append(account.name)
                self.stderr.write(f"{account.name}: a sync held the lease for {wait:.0f}s; not rebuilt")
                continue
            started = time.monotonic()
            try:
                with LeaseKeeper(lease):
                    n = stages.rebuild([account.pk])
            finally:
                release_lease(account.pk, owner)
            self.stdout.write(f"{account.name}: {n} stretch(es) in {time.monotonic() - started:.1f}s")
        if skipped:
            raise CommandError(f"not rebuilt (run again): {', '.join(skipped)}")
