"""IAM password tokens (§8 of docs/vendors/huawei-metastudio.md): X-Auth-Token instead of AK/SK
signing, fetched and refreshed by HuaweiProvider with what is here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from jobs.providers.base import ResponseError
from jobs.providers.huawei.parsers import short
from jobs.providers.times import TimeFormatError, parse_rfc3339

TOKEN_PATH = "/v3/auth/tokens"
# A token lives 24 h; get a new one this long before it expires (a sync may run for a while).
TOKEN_REFRESH_MARGIN = 3600


@dataclass(frozen=True)
class IamPassword:
    """An IAM user that may get project-scoped tokens: its account (domain) name, user name and
    password, and the IAM endpoint (empty: https://iam.<region>.myhuaweicloud.com)."""

    domain: str
    user: str
    password: str = field(repr=False)
    endpoint: str = ""


class TokenStore:
    """Where a fetched token is kept between syncs (jobs.providers.get_provider backs it with the
    account row). The default keeps nothing: each provider fetches its own."""

    def load(self) -> tuple[str, datetime | None]:
        return "", None

    def save(self, token: str, expires_at: datetime) -> None:
        pass

    def flush(self) -> None:
        """Write what save() could not write from the thread it was called on."""


def token_request_body(iam: IamPassword, project_id: str) -> bytes:
    """KeystoneCreateUserTokenByPassword, scoped to the MetaStudio project."""
    return orjson.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": iam.user, "password": iam.password, "domain": {"name": iam.domain}}},
                },
                "scope": {"project": {"id": project_id}},
            }
        }
    )


def parse_token_response(headers: Mapping, content: bytes, request_id: str = "") -> tuple[str, datetime]:
    """(token, expires_at) from IAM's answer: the token is the X-Subject-Token header, the expiry
    ``token.expires_at`` in the body (RFC 3339)."""
    token = (headers.get("X-Subject-Token") or "").strip()
    if not token:
        raise ResponseError("IAM answered without an X-Subject-Token header", request_id=request_id)
    try:
        data = orjson.loads(content)
        expires_at = parse_rfc3339(data["token"]["expires_at"])
    except (ValueError, KeyError, TypeError, TimeFormatError) as exc:
        raise ResponseError(
            f"IAM token response: no readable token.expires_at ({short(exc)})", request_id=request_id
        ) from None
    if expires_at is None:
        raise ResponseError("IAM token response: empty token.expires_at", request_id=request_id)
    return token, expires_at
