"""Where each call goes: the MetaStudio and IAM hosts of a region, or a validated override
(docs/vendors/huawei-metastudio.md §9; IAM §8)."""

from __future__ import annotations

import re

from jobs.providers.base import ConfigError
from jobs.providers.http import validate_endpoint

REGION_RE = re.compile(r"^[a-z]+-[a-z]+(-\d+)?$")


def _check_region(region: str) -> None:
    if not REGION_RE.match(region or ""):
        raise ConfigError(f"invalid Huawei region {region!r} (expected e.g. cn-north-4)")


def endpoint_for(region: str, endpoint: str = "") -> tuple[str, str]:
    """(base URL without trailing slash, Host header) for a region or an override URL."""
    if endpoint:
        return validate_endpoint(endpoint)
    _check_region(region)
    host = f"metastudio.{region}.myhuaweicloud.com"
    return f"https://{host}", host


def iam_endpoint_for(region: str, endpoint: str = "") -> str:
    """IAM's base URL (§8) for a region or an override URL."""
    if endpoint:
        try:
            return validate_endpoint(endpoint)[0]
        except ConfigError as exc:
            raise ConfigError(f"IAM {exc}") from None
    _check_region(region)
    return f"https://iam.{region}.myhuaweicloud.com"
