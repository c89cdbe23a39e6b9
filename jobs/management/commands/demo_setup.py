"""demo_setup --fakecloud-url URL: make a fresh install demo-ready, idempotently.

Creates the logins the demo script prints (admin/admin superuser, operator/operator,
viewer/viewer), the `viewer` and `operator` groups with their permissions, one demo account
per cloud pointing at the fakecloud (its public demo credentials, fakecloud/defaults.py),
tracks the fakecloud's short jobs (they have no list API), and makes sure the beat schedule
exists. Beat's dispatcher then syncs the never-synced accounts within half a minute.
"""

import json
import urllib.request

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from fakecloud import defaults as d
from jobs import sync
from jobs.models import CloudAccount
from jobs.roles import ensure_groups

DEMO_USERS = [("viewer", "viewer", "viewer"), ("operator", "operator", "operator")]
DISPATCH_EVERY = 30  # seconds, as in migration jobs/0003


def ensure_schedule(seconds=None):
    """The dispatcher's PeriodicTask (migration jobs/0003 creates it; an admin may have changed it)."""
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds or DISPATCH_EVERY, period=IntervalSchedule.SECONDS)
    task, created = PeriodicTask.objects.get_or_create(
        name="Dispatch due syncs", defaults={"task": "jobs.dispatch_due_syncs", "interval": every}
    )
    if seconds and not created and task.interval_id != every.pk:
        task.interval = every
        task.save()
    return task


def fakecloud_short_job_ids(base_url):
    """Ask the fakecloud's control endpoint (a local simulator, not a vendor) for its short jobs."""
    with urllib.request.urlopen(f"{base_url}/_fakecloud/short-jobs", timeout=5) as response:  # noqa: S310
        data = json.loads(response.read(4 * 1024 * 1024))
    return [i for i in data.get("short_job_ids") or [] if isinstance(i, str)]


class Command(BaseCommand):
    help = "Create demo logins, roles and cloud accounts pointing at a fakecloud (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--fakecloud-url", default="http://127.0.0.1:8765")
        parser.add_argument("--no-track", action="store_true", help="don't ask the fakecloud for short-job ids")
        parser.add_argument("--dispatch-every", type=int, help="set the dispatcher's beat interval (seconds)")
        parser.add_argument("--sync-interval", type=int, help="set the demo accounts' sync intervals (seconds)")

    def handle(self, *args, **opts):
        url = opts["fakecloud_url"].rstrip("/")
        with transaction.atomic():
            groups = ensure_groups()
            if not User.objects.filter(username="admin").exists():
                User.objects.create_superuser("admin", "admin@example.invalid", "admin")
            for username, password, group in DEMO_USERS:
                user, created = User.objects.get_or_create(username=username)
                if created:
                    user.set_password(password)
                    user.save()
                user.groups.add(groups[group])
            ensure_schedule(opts["dispatch_every"])
            hw = self.account(
                "demo-huawei",
                provider="huawei",
                region=d.HUAWEI_REGION,
                endpoint=url,
                project_id=d.HUAWEI_PROJECT_ID,
                access_key_id=d.HUAWEI_AK,
                secret=d.HUAWEI_SK,
            )
            tencent = self.account(
                "demo-tencent",
                provider="tencent",
                region=d.TENCENT_REGION,
                endpoint=url,
                bucket=d.TENCENT_BUCKET,
                queue_id=d.TENCENT_QUEUE_ID,
                access_key_id=d.TENCENT_SECRET_ID,
                secret=d.TENCENT_SECRET_KEY,
            )
            if opts["sync_interval"]:
                for account in (hw, tencent):
                    account.sync_interval = account.active_sync_interval = opts["sync_interval"]
                    account.save(update_fields=["sync_interval", "active_sync_interval"])
        if not opts["no_track"]:
            try:
                ids = fakecloud_short_job_ids(url)
            except (OSError, ValueError) as exc:
                self.stderr.write(
                    f"could not read short-job ids from the fakecloud ({type(exc).__name__}); none tracked"
                )
            else:
                new = sync.track_jobs(hw, "voice_assessment", ids)
                self.stdout.write(f"tracking {new} new short job(s) of the fakecloud")
        self.stdout.write("demo ready: logins admin/admin, operator/operator, viewer/viewer")

    def account(self, name, *, secret, **fields):
        account = CloudAccount.objects.filter(name=name).first()
        created = account is None
        account = account or CloudAccount(name=name)
        for key, value in fields.items():
            setattr(account, key, value)
        if created:
            # Short intervals so the demo visibly moves; admins can change them.
            account.sync_interval = 120
            account.active_sync_interval = 30
        account.set_secret_key(secret)
        try:
            account.full_clean(exclude=["kinds"])
        except Exception as exc:
            raise CommandError(f"{name}: {exc}") from None
        account.save()
        self.stdout.write(f"{'created' if created else 'updated'} account {name} -> {fields['endpoint']}")
        return account
