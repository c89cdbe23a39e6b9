"""Turning a failure into what a SyncRun shows: a code, a readable reason, never a secret."""

from __future__ import annotations

from jobs.models import CloudAccount, SyncRun
from jobs.providers.base import ProviderError
from jobs.sync.rows import cut


def redact(text: str, account: CloudAccount) -> str:
    """Belt and braces: a provider already redacts, but no secret may reach a SyncRun row."""
    for secret in _secrets_of(account):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _secrets_of(account: CloudAccount) -> list[str]:
    out = []
    for getter in (
        account.get_secret_key,
        account.get_token,
        account.get_iam_password,
        lambda: account.get_iam_token()[0],
    ):
        try:
            out.append(getter())
        except Exception:  # undecryptable secrets cannot leak either
            pass
    return out


def error_fields(exc: BaseException, account: CloudAccount) -> dict:
    """The SyncRun error columns for an exception: vendor code, readable message, request id."""
    if isinstance(exc, ProviderError):
        code = exc.code or (f"HTTP {exc.status}" if exc.status else type(exc).__name__)
        message = exc.message or str(exc)
        if exc.status and str(exc.status) not in code:
            message = f"HTTP {exc.status}: {message}"
        return {
            "error_code": cut(redact(str(code), account), 64),
            "error_message": redact(message, account),
            "request_id": cut(exc.request_id, 128),
        }
    name = getattr(exc, "code", "") or type(exc).__name__
    return {"error_code": cut(str(name), 64), "error_message": redact(str(exc) or name, account), "request_id": ""}


def run_reason(run: SyncRun) -> str:
    """One readable line: what failed, the vendor code and the request id."""
    parts = [f"{run.kind}:"]
    if run.error_code:
        parts.append(f"[{run.error_code}]")
    parts.append(run.error_message or run.outcome)
    if run.request_id:
        parts.append(f"(request id {run.request_id})")
    return " ".join(parts)
