"""The SDK-HMAC-SHA256 request signer (§7).

Written from docs/vendors/huawei-metastudio.md (section numbers refer to it); tests compare it
with huaweicloudsdkcore's Signer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from jobs.providers.base import ConfigError

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def _encode(value: str) -> str:
    # Leaves only A-Z a-z 0-9 _ . - ~ unencoded.
    return quote(value, safe="~")


def _param_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # the gateway expects lower-case booleans
    return str(value)


def canonical_uri(path: str) -> str:
    """Percent-decode, re-encode each segment, and always end with "/" (the request line doesn't)."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(params: Mapping | Iterable[tuple[str, object]] | None) -> str:
    """Sorted ``key=value`` pairs, both encoded; list values become one pair each; None is skipped.

    This string is also the query that is sent: the gateway re-derives it from the URL.
    """
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    pairs = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            for item in sorted(_param_text(v) for v in value):
                pairs.append((key, item))
        else:
            pairs.append((key, _param_text(value)))
    # Sorted on the raw text (as the SDK does), not on the encoded text: "a-" < "a/" but "a%2F" < "a-".
    pairs.sort()
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


@dataclass(frozen=True, slots=True)
class Signed:
    query: str  # send exactly this as the URL query
    headers: dict  # the input headers plus X-Sdk-Date (if missing) and Authorization


def sign(
    *,
    method: str,
    path: str,
    params,
    headers: Mapping[str, str],
    body: bytes = b"",
    access_key: str,
    secret_key: str,
    now: datetime | None = None,
) -> Signed:
    """Sign one request. ``headers`` must already hold Host (and X-Project-Id for MetaStudio);
    every header whose name has no "_" is signed, like the official SDK does."""
    if not access_key or not secret_key:
        raise ConfigError("Huawei AK/SK signing needs both an access key id and a secret key")
    headers = dict(headers)
    content_type = _header(headers, "Content-Type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        headers["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    sdk_date = _header(headers, "X-Sdk-Date")
    if sdk_date is None:
        sdk_date = (now or datetime.now(UTC)).astimezone(UTC).strftime(DATE_FORMAT)
        headers["X-Sdk-Date"] = sdk_date

    values = {}
    for name, value in headers.items():
        value = str(value).strip()
        headers[name] = value
        values[name.lower()] = value
    signed_names = sorted(name.lower() for name in headers if "_" not in name)
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in signed_names)

    if not body:
        payload_hash = EMPTY_SHA256
    else:
        payload_hash = _header(headers, "X-Sdk-Content-Sha256") or hashlib.sha256(body).hexdigest()

    query = canonical_query(params)
    canonical_request = "\n".join(
        [method.upper(), canonical_uri(path), query, canonical_headers, ";".join(signed_names), payload_hash]
    )
    string_to_sign = "\n".join([ALGORITHM, sdk_date, hashlib.sha256(canonical_request.encode()).hexdigest()])
    signature = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_names)}, Signature={signature}"
    )
    return Signed(query, headers)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
