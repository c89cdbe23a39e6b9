"""Encryption of cloud credentials at rest (Fernet, keys from CREDENTIALS_KEY).

The first key encrypts; every key decrypts, so a key can be rotated by putting the new one
first, running `manage.py rotatecredentials`, then dropping the old one.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _fernet():
    try:
        return MultiFernet([Fernet(key.encode()) for key in settings.CREDENTIALS_KEYS])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "CREDENTIALS_KEY must be one or more comma-separated Fernet keys (32 url-safe base64-encoded bytes each)"
        ) from None


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialError("stored credential cannot be decrypted with CREDENTIALS_KEY") from None


def rotate(token: str) -> str:
    """Re-encrypt under the first (newest) key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialError("stored credential cannot be decrypted with CREDENTIALS_KEY") from None
