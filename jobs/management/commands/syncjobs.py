"""syncjobs [--account NAME] [--kind KIND] [--full]: sync in the foreground, one summary line
per account and kind.

Exit status: 0 every run succeeded; 1 a run failed or stopped part-way (or bad arguments);
75 (EX_TEMPFAIL) nothing failed but a run was skipped because another sync of that account
held its lease: try again later (cron wrappers can tell "busy" from "broken").

Without --full each kind is refreshed incrementally while a recent full listing allows (see
jobs.sync.incremental); --full lists everything, the only refresh that marks jobs gone."""

from django.core.management.base import BaseCommand, CommandError

from jobs import sync
from jobs.models import CloudAccount, Kind, SyncRun

BAD = (SyncRun.Outcome.FAILED, SyncRun.Outcome.PARTIAL)
EXIT_SKIPPED = 75  # sysexits.h EX_TEMPFAIL


def summary(account, run) -> str:
    seconds = run.duration.total_seconds() if run.duration else 0.0
    line = (
        f"{account.name} {run.kind}: {run.outcome} ({run.mode}) in {seconds:.1f}s, {run.pages} pages, "
        f"{run.api_calls} calls, {run.seen} seen, {run.created} new, {run.updated} changed, "
        f"{run.unchanged} unchanged, {run.marked_gone} gone, {run.events_created} events, "
        f"{run.details_fetched} details"
    )
    if run.throttled:
        line += f", {run.throttled} throttled"
    if run.outcome in BAD or run.outcome == SyncRun.Outcome.SKIPPED:
        line += f" — {sync.run_reason(run)}"
    return line


class Command(BaseCommand):
    help = "Sync cloud jobs into the cache now, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--account", help="account name (default: every enabled account)")
        parser.add_argument("--kind", choices=[k.value for k in Kind], help="one job kind (default: all)")
        parser.add_argument(
            "--full", action="store_true", help="list every job (the only refresh that marks vanished jobs gone)"
        )

    def handle(self, *args, **opts):
        if opts["account"]:
            accounts = list(CloudAccount.objects.filter(name=opts["account"]))
            if not accounts:
                raise CommandError(f"no account named {opts['account']!r}")
        else:
            accounts = list(CloudAccount.objects.filter(enabled=True))
        if not accounts:
            self.stdout.write("no enabled accounts")
            return
        failed = skipped = 0
        for account in accounts:
            kinds = [opts["kind"]] if opts["kind"] else None
            if kinds and kinds[0] not in account.sync_kinds():
                if opts["account"]:
                    raise CommandError(f"{account.name} does not sync {kinds[0]}")
                continue
            for run in sync.sync_account(account, kinds=kinds, trigger="command", full=opts["full"]):
                self.stdout.write(summary(account, run))
                failed += run.outcome in BAD
                skipped += run.outcome == SyncRun.Outcome.SKIPPED
        if failed:
            raise CommandError(f"{failed} sync run(s) failed")
        if skipped:
            raise CommandError(
                f"{skipped} sync run(s) skipped: another sync held the account's lease; try again later",
                returncode=EXIT_SKIPPED,
            )
