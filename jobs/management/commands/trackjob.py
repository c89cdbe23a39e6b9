"""trackjob ACCOUNT voice_assessment JOB_ID…: register short-job ids (there is no list API
for them); the next sync of the account fetches them."""

from django.core.management.base import BaseCommand, CommandError

from jobs import sync
from jobs.forms import TrackJobsForm
from jobs.models import CloudAccount


class Command(BaseCommand):
    help = "Track job ids the vendor cannot list (voice-assessment short jobs)."

    def add_arguments(self, parser):
        parser.add_argument("account")
        parser.add_argument("kind", choices=["voice_assessment"])
        parser.add_argument("job_ids", nargs="+", metavar="JOB_ID")

    def handle(self, *args, **opts):
        account = CloudAccount.objects.filter(name=opts["account"]).first()
        if account is None:
            raise CommandError(f"no account named {opts['account']!r}")
        if opts["kind"] not in account.sync_kinds():
            raise CommandError(f"{account.name} ({account.provider}) does not sync {opts['kind']}")
        # The form's rule: MetaStudio short-job ids are UUIDs; anything else cannot exist.
        bad = [i for i in opts["job_ids"] if not TrackJobsForm.SHORT_JOB_ID_RE.match(i.strip())]
        if bad:
            raise CommandError(
                f"not short-job ids (they look like 26f06524-4f75-4b3a-a853-b649a21aaf66): "
                f"{', '.join(repr(b[:40]) for b in bad)}"
            )
        new = sync.track_jobs(account, opts["kind"], opts["job_ids"])
        known = len(set(opts["job_ids"])) - new
        self.stdout.write(f"{account.name}: tracking {new} new job(s), {known} already tracked")
