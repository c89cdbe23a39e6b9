"""Cloud provider clients. ``get_provider(account)`` is the only Django-aware function here."""

import threading

from django.conf import settings

from jobs.crypto import CredentialError
from jobs.endpoints import refused_address
from jobs.providers import huawei, quota, tencent
from jobs.providers.base import TRANSLATION, ConfigError, Provider
from jobs.providers.huawei import HuaweiProvider, IamPassword
from jobs.providers.tencent import TencentProvider

NORMALISATION_VERSIONS: dict[str, int] = {
    **dict.fromkeys(HuaweiProvider.kinds, huawei.NORMALISATION_VERSION),
    TRANSLATION: tencent.NORMALISATION_VERSION,
}
"""Job kind -> the version of the parsers that normalise its vendor payloads (each provider's
NORMALISATION_VERSION, bumped on purpose when its records change). The sync's listed-job
fingerprints include it, so a bump re-normalises every cached job of that kind once."""


def http_options_from_settings() -> dict:
    return {
        "connect_timeout": settings.HTTP_CONNECT_TIMEOUT,
        "read_timeout": settings.HTTP_READ_TIMEOUT,
        "max_retries": settings.HTTP_MAX_RETRIES,
        "max_body_bytes": settings.HTTP_MAX_BODY_BYTES,
    }


def _fetch_ahead() -> int:
    return settings.SYNC_FETCH_AHEAD


def get_provider(account, **http_options) -> Provider:
    """Build the client for a ``jobs.models.CloudAccount``, decrypting its secrets; every call
    it makes takes a token from its tenant's quota governor (jobs.providers.quota).

    ``http_options`` override the settings (tests pass ``sleep=`` so retries don't wait).
    Raises ConfigError when the account cannot work (bad region/bucket/endpoint, no secret,
    a secret that CREDENTIALS_KEY cannot decrypt).
    """
    _refuse_link_local(account)
    provider = _client(account, {**http_options_from_settings(), **http_options})
    rps = account.max_rps or settings.SYNC_DEFAULT_MAX_RPS or quota.default_rps(provider.documented_rps)
    provider.http.quota = quota.governor(provider.tenant_key, rps)
    return provider


def _refuse_link_local(account) -> None:
    """The admin form refuses a link-local or metadata endpoint; this catches accounts saved
    before it did, and a name that has come to resolve to such an address since (one lookup per
    sync; jobs.endpoints)."""
    if settings.ALLOW_LINK_LOCAL_ENDPOINTS:
        return
    for field in ("endpoint", "iam_endpoint"):
        url = getattr(account, field, "")
        address = refused_address(url) if url else None
        if address is not None:
            raise ConfigError(
                f"the {field.replace('_', ' ')} {url} reaches {address}, a link-local or cloud metadata "
                "address; refused (ALLOW_LINK_LOCAL_ENDPOINTS=true allows it)",
                code="link_local_endpoint",
            )


def _client(account, options: dict) -> Provider:
    try:
        secret_key = account.get_secret_key()
        token = account.get_token()
        iam_password = account.get_iam_password() if account.provider == "huawei" else ""
    except CredentialError as exc:
        raise ConfigError(str(exc)) from None

    if account.provider == "huawei":
        iam = None
        if account.iam_user or iam_password:
            iam = IamPassword(account.iam_domain, account.iam_user, iam_password, account.iam_endpoint)
        return HuaweiProvider(
            region=account.region,
            project_id=account.project_id,
            access_key_id=account.access_key_id,
            secret_key=secret_key,
            token=token,
            endpoint=account.endpoint,
            iam=iam,
            token_store=_AccountTokenStore(account) if iam else None,
            fetch_ahead=_fetch_ahead(),
            http_options=options,
        )
    if account.provider == "tencent":
        return TencentProvider(
            region=account.region,
            bucket=account.bucket,
            secret_id=account.access_key_id,
            secret_key=secret_key,
            token=token,
            queue_id=account.queue_id,
            list_path=account.list_path or "/ai_jobs",
            endpoint=account.endpoint,
            http_options=options,
        )
    raise ConfigError(f"unknown provider {account.provider!r}")


class _AccountTokenStore:
    """A Huawei IAM token kept (encrypted) on the account row, shared by every worker.

    A token fetched in a listing's helper thread waits in memory: Django's connections belong
    to their thread, so it is written by ``flush()`` (HuaweiProvider.save_state) on the thread
    that built the provider, which is where the sync runs."""

    def __init__(self, account):
        self.account = account
        self.owner = threading.get_ident()
        self.pending = None

    def load(self):
        try:
            return self.account.get_iam_token()
        except CredentialError:  # e.g. CREDENTIALS_KEY rotated away: fetch a new one
            return "", None

    def save(self, token, expires_at):
        self.pending = (token, expires_at)
        if threading.get_ident() == self.owner:
            self.flush()

    def flush(self):
        if self.pending is not None and threading.get_ident() == self.owner:
            token, expires_at = self.pending
            self.pending = None
            self.account.store_iam_token(token, expires_at)


# provider name (CloudAccount.provider) -> the vendor module, for facts forms check offline.
_MODULES = {"huawei": huawei, "tencent": tencent}


def region_pattern(provider: str):
    """The vendor's region pattern (the admin checks it even when an endpoint override is set);
    None for an unknown provider."""
    module = _MODULES.get(provider)
    return getattr(module, "REGION_RE", None)
