"""addaccount NAME --provider huawei|tencent [--region R] [--endpoint URL] [--project-id P]
[--bucket B] [--queue-id Q] [--list-path /ai_jobs] [--access-key AK] [--kinds k1,k2]
[--iam-user U --iam-domain D [--iam-endpoint URL]]

The secret key (with --iam-user: the IAM user's password) is read from standard input (one
line), never from the command line, so it stays out of shell history and `ps`. Validation is the admin form's (jobs.forms_admin).
"""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from jobs.forms_admin import CloudAccountForm
from jobs.models import CloudAccount

DEFAULT_REGIONS = {"huawei": "cn-north-4", "tencent": "ap-guangzhou"}


class Command(BaseCommand):
    help = "Add a cloud account; the secret key is read from standard input (one line)."
    stealth_options = ("stdin",)  # call_command(..., stdin=StringIO(...)) in tests

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--provider", required=True, choices=["huawei", "tencent"])
        parser.add_argument("--region", default="")
        parser.add_argument("--endpoint", default="", help="override URL, e.g. a fakecloud at http://127.0.0.1:8765")
        parser.add_argument("--project-id", default="")
        parser.add_argument("--bucket", default="", help="Tencent bucket, name-APPID")
        parser.add_argument("--queue-id", default="")
        parser.add_argument("--list-path", default="/ai_jobs", choices=["/ai_jobs", "/jobs"])
        parser.add_argument("--access-key", default="", help="access key id (AK / SecretId); not secret")
        parser.add_argument(
            "--iam-user", default="", help="Huawei IAM user instead of AK/SK: standard input then gives its password"
        )
        parser.add_argument("--iam-domain", default="", help="the IAM user's account (domain) name")
        parser.add_argument("--iam-endpoint", default="", help="IAM override URL (default: iam.<region>)")
        parser.add_argument("--kinds", default="", help="comma-separated job kinds (default: all the provider offers)")
        parser.add_argument(
            "--max-rps",
            type=float,
            help="this account's share of its tenant's request rate, requests/s (accounts on one tenant share it; "
            "default: half the vendor's documented rate)",
        )

    def read_secret(self, stdin, prompt):
        if stdin.isatty():
            return getpass.getpass(prompt)
        return stdin.readline().strip()

    def handle(self, *args, **opts):
        if CloudAccount.objects.filter(name=opts["name"]).exists():
            raise CommandError(f"an account named {opts['name']!r} exists; change it in the admin")
        iam = bool(opts["iam_user"])
        secret = self.read_secret(opts.get("stdin") or sys.stdin, "IAM password: " if iam else "secret key: ")
        if not secret:
            what = "IAM password" if iam else "secret key"
            raise CommandError(f"no {what} on standard input (give it as one line)")
        data = {
            "name": opts["name"],
            "provider": opts["provider"],
            "region": opts["region"] or DEFAULT_REGIONS[opts["provider"]],
            "endpoint": opts["endpoint"],
            "project_id": opts["project_id"],
            "bucket": opts["bucket"],
            "queue_id": opts["queue_id"],
            "list_path": opts["list_path"],
            "access_key_id": opts["access_key"],
            "secret_key": "" if iam else secret,
            "iam_user": opts["iam_user"],
            "iam_domain": opts["iam_domain"],
            "iam_endpoint": opts["iam_endpoint"],
            "iam_password": secret if iam else "",
            "kinds": [k.strip() for k in opts["kinds"].split(",") if k.strip()],
            "enabled": True,
            "sync_interval": CloudAccount._meta.get_field("sync_interval").default,
            "active_sync_interval": CloudAccount._meta.get_field("active_sync_interval").default,
            "full_sync_interval": CloudAccount._meta.get_field("full_sync_interval").default,
            "max_rps": "" if opts["max_rps"] is None else opts["max_rps"],
        }
        form = CloudAccountForm(data=data)
        if not form.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
                for field, errors in form.errors.items()
            )
            raise CommandError(f"invalid account: {problems}")
        account = form.save()
        kinds = ", ".join(account.sync_kinds())
        self.stdout.write(f"added {account.name} ({account.provider}, {account.region}); syncs {kinds}")
