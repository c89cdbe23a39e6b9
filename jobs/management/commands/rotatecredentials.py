"""rotatecredentials: re-encrypt every stored secret (cloud credentials and alert channel URLs)
under the first CREDENTIALS_KEY.

Rotation: put the new key first (CREDENTIALS_KEY=new,old), restart, run this, drop the old key.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs import crypto
from jobs.alert_models import AlertChannel
from jobs.models import CloudAccount

ENCRYPTED_FIELDS = ("secret_key_encrypted", "token_encrypted", "iam_password_encrypted", "iam_token_encrypted")


class Command(BaseCommand):
    help = "Re-encrypt stored cloud credentials and alert channel URLs under the first CREDENTIALS_KEY."

    def handle(self, *args, **opts):
        rotated = 0
        with transaction.atomic():
            for account in CloudAccount.objects.select_for_update().order_by("pk"):
                changed = []
                for field in ENCRYPTED_FIELDS:
                    token = getattr(account, field)
                    if not token:
                        continue
                    try:
                        setattr(account, field, crypto.rotate(token))
                    except crypto.CredentialError:
                        raise CommandError(
                            f"{account.name}: a stored credential cannot be decrypted with any CREDENTIALS_KEY; "
                            "nothing was changed"
                        ) from None
                    changed.append(field)
                if changed:
                    account.save(update_fields=changed)
                    rotated += 1
            channels = 0
            for channel in AlertChannel.objects.select_for_update().exclude(url_encrypted="").order_by("pk"):
                try:
                    channel.url_encrypted = crypto.rotate(channel.url_encrypted)
                except crypto.CredentialError:
                    raise CommandError(
                        f"alert channel {channel.name}: its URL cannot be decrypted with any CREDENTIALS_KEY; "
                        "nothing was changed"
                    ) from None
                channel.save(update_fields=["url_encrypted"])
                channels += 1
        self.stdout.write(
            f"re-encrypted the credentials of {rotated} account(s) and the URLs of {channels} alert channel(s)"
        )
