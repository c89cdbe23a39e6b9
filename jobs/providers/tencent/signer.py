"""The COS q-sign request signer (§6 of docs/vendors/tencent-ci.md).

Written from the vendor notes; tests compare it with qcloud_cos's CosS3Auth.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import quote

from jobs.providers.base import ConfigError

SIGN_EXPIRE_SECONDS = 10000  # the Python SDK's default window
TOKEN_HEADER = "x-ci-security-token"  # temporary credentials on CI requests (§6.3)


def encode(value) -> str:
    """COS UrlEncode: UTF-8, everything but A-Z a-z 0-9 - _ . ~ escaped; space is %20, + is %2B."""
    return quote(str(value).encode("utf-8"), safe="-_.~")


def _canonical(pairs: Mapping[str, str]) -> tuple[str, str]:
    encoded = sorted((encode(k).lower(), encode(v)) for k, v in pairs.items())
    return "&".join(f"{k}={v}" for k, v in encoded), ";".join(k for k, _ in encoded)


def sign(
    *,
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    secret_id: str,
    secret_key: str,
    now: int | None = None,
    expire: int = SIGN_EXPIRE_SECONDS,
) -> str:
    """The ``Authorization`` value. ``path`` is the decoded path; every param and every header
    given is signed (give ``host`` and, with temporary credentials, the token header)."""
    if not secret_id or not secret_key:
        raise ConfigError("Tencent signing needs a SecretId and a SecretKey")
    start = int(time.time() if now is None else now)
    key_time = f"{start - 60};{start + expire}"  # a minute of slack for clock skew
    http_params, param_list = _canonical(params)
    http_headers, header_list = _canonical(headers)
    http_string = f"{method.lower()}\n{path}\n{http_params}\n{http_headers}\n"
    string_to_sign = f"sha1\n{key_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
    sign_key = hmac.new(secret_key.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    signature = hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()
    return (
        f"q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}"
        f"&q-header-list={header_list}&q-url-param-list={param_list}&q-signature={signature}"
    )
