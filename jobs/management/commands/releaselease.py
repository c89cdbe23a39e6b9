"""releaselease ACCOUNT [--yes]: free an account's sync lease that a dead sync still holds.

A sync keeps its lease alive with a heartbeat, so a held lease normally means a sync is
running; after kill -9 (or a lost host) the lease frees itself within SYNC_LEASE_SECONDS. This
frees it now. It is safe even if the holder is still alive: the release changes the lease's
fencing token, so that sync's next write is refused and it stops (jobs/sync/lease.py). Its
RUNNING runs are closed as abandoned."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs.models import CloudAccount
from jobs.sync.lease import force_release


class Command(BaseCommand):
    help = "Release an account's sync lease (after a crashed sync), with a confirmation."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("--yes", "--no-input", action="store_true", dest="yes", help="do not ask for confirmation")

    def handle(self, *args, account, yes, **opts):
        acc = CloudAccount.objects.filter(name=account).first()
        if acc is None:
            raise CommandError(f"no account named {account!r}")
        now = timezone.now()
        if not acc.lease_owner or acc.lease_until is None or acc.lease_until < now:
            self.stdout.write(f"{acc.name}: no sync holds the lease; nothing to release")
            if acc.lease_owner:  # lapsed: tidy it
                force_release(acc.pk, reason="the lease was released by an operator (it had lapsed)")
            return
        left = (acc.lease_until - now).total_seconds()
        running = acc.sync_runs.filter(outcome="running").count()
        self.stdout.write(
            f"{acc.name}: the sync lease is held by {acc.lease_owner} for {left:.0f}s more "
            f"({running} run(s) running). A live sync holding it stops at its next write."
        )
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("not confirmed: run it in a terminal or pass --yes")
            answer = input("Release it? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                raise CommandError("not released")
        _owner, closed = force_release(acc.pk)
        self.stdout.write(f"{acc.name}: lease released; {closed} running run(s) closed as abandoned")
