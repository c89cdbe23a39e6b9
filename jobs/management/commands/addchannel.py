"""python manage.py addchannel NAME — an alert channel; its apprise URL (which may hold a token
or a password) is read from standard input, never from argv (../shared/DESIGN.md §8)."""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError, no_translations

from jobs.alert_admin import url_problem
from jobs.alert_models import AlertChannel


class Command(BaseCommand):
    help = "Add an alert channel; its apprise URL is read from standard input (one line)."
    stealth_options = ("stdin",)  # call_command(..., stdin=StringIO(...)) in tests

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--disabled", action="store_true", help="create it disabled")

    @no_translations  # messages in English whatever language a caller's thread had active
    def handle(self, *args, **opts):
        name = opts["name"].strip()
        if not name or len(name) > 80:
            raise CommandError("a channel name is 1 to 80 characters")
        if AlertChannel.objects.filter(name=name).exists():
            raise CommandError(f"a channel named {name!r} exists; change it in the admin")
        stdin = opts.get("stdin") or sys.stdin
        url = (getpass.getpass("apprise URL: ") if stdin.isatty() else stdin.readline()).strip()
        if not url:
            raise CommandError("no apprise URL on standard input (give it as one line)")
        if problem := url_problem(url):
            raise CommandError(problem)
        channel = AlertChannel(name=name, enabled=not opts["disabled"])
        channel.set_url(url)
        channel.save()
        self.stdout.write(f"channel {channel.name}: {channel.where}")
