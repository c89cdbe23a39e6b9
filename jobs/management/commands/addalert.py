"""python manage.py addalert NAME --when failed|stuck|spike|stale|assessment --channel NAME
[--account A] [--kind K] [--batch B] [--tag T] — an alert rule (../shared/DESIGN.md §8)."""

from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction

from jobs.alert_models import AlertChannel, AlertRule
from jobs.models import CloudAccount, Kind


class Command(BaseCommand):
    help = "Add an alert rule sending to one or more channels."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--when", required=True, choices=AlertRule.When.values)
        parser.add_argument("--channel", required=True, action="append", help="a channel's name (repeatable)")
        parser.add_argument("--account", action="append", default=[], help="an account's name (repeatable; none: all)")
        parser.add_argument("--kind", action="append", default=[], choices=Kind.values, help="repeatable; none: all")
        parser.add_argument("--batch", default="")
        parser.add_argument("--tag", default="")
        parser.add_argument(
            "--threshold", type=int, default=0, help="spike: failures; assessment: metrics out of range"
        )
        parser.add_argument("--window", type=int, default=0, help="spike: minutes")

    @no_translations  # messages in English whatever language a caller's thread had active
    def handle(self, *args, **opts):
        name = opts["name"].strip()
        if not name or len(name) > 80:
            raise CommandError("a rule name is 1 to 80 characters")
        if AlertRule.objects.filter(name=name).exists():
            raise CommandError(f"a rule named {name!r} exists; change it in the admin")
        channels = list(AlertChannel.objects.filter(name__in=opts["channel"]))
        missing = sorted(set(opts["channel"]) - {c.name for c in channels})
        if missing:
            raise CommandError(f"no channel named {', '.join(missing)} (add it with addchannel)")
        accounts = list(CloudAccount.objects.filter(name__in=opts["account"]))
        missing = sorted(set(opts["account"]) - {a.name for a in accounts})
        if missing:
            raise CommandError(f"no account named {', '.join(missing)}")
        if opts["threshold"] < 0 or opts["window"] < 0:
            raise CommandError("--threshold and --window are not negative")
        with transaction.atomic():
            rule = AlertRule.objects.create(
                name=name,
                when=opts["when"],
                kinds=sorted(set(opts["kind"])),
                batch=opts["batch"],
                tag=opts["tag"],
                threshold=opts["threshold"],
                window_minutes=opts["window"],
            )
            rule.channels.set(channels)
            rule.accounts.set(accounts)
        self.stdout.write(f"rule {rule.name}: when {rule.when}, to {', '.join(c.name for c in channels)}")
