import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from jobs import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_it_round_trips_without_keeping_the_plaintext(settings):
    settings.CREDENTIALS_KEYS = [NEW]

    token = crypto.encrypt("s3cret-value")

    assert "s3cret-value" not in token
    assert crypto.decrypt(token) == "s3cret-value"


def test_it_decrypts_with_any_key_and_rotates_to_the_first(settings):
    settings.CREDENTIALS_KEYS = [OLD]
    token = crypto.encrypt("value")
    settings.CREDENTIALS_KEYS = [NEW, OLD]

    rotated = crypto.rotate(token)

    assert crypto.decrypt(token) == "value"
    settings.CREDENTIALS_KEYS = [NEW]
    assert crypto.decrypt(rotated) == "value"
    with pytest.raises(crypto.CredentialError):
        crypto.decrypt(token)


def test_it_says_clearly_when_no_key_fits(settings):
    settings.CREDENTIALS_KEYS = [OLD]
    token = crypto.encrypt("value")
    settings.CREDENTIALS_KEYS = [NEW]

    with pytest.raises(crypto.CredentialError) as info:
        crypto.decrypt(token)

    assert "value" not in str(info.value)


def test_it_rejects_a_malformed_key(settings):
    settings.CREDENTIALS_KEYS = ["not-a-fernet-key"]

    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("value")
