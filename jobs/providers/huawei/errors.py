"""MetaStudio error bodies and the codes that decide an error's class (§10 of
docs/vendors/huawei-metastudio.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from jobs.providers.base import AuthError, ConfigError, NotFoundError, TransportError
from jobs.providers.http import VendorError

# Gateway / MSS codes that mean "your credentials are wrong", whatever the HTTP status.
AUTH_CODES = {
    "APIGW.0301",
    "APIG.0301",
    "MSS.00010008",
    "MSS.00010009",
    "MSS.00000001",
    "MSS.000000004",
}
THROTTLE_CODES = {"APIGW.0308", "APIG.0308"}
# The gateway knows no such API (404): a wrong endpoint, region or path, not a missing job (a
# NotFoundError would mark the job gone) and not a credential (an AuthError would stop every kind).
CONFIG_CODES = {"APIGW.0101", "APIG.0101"}
NOT_FOUND_CODES = {"MSS.10001001", "MSS.10001004"}
_CODE_KEYS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))


def _find_error(data, depth=0):
    if not isinstance(data, dict) or depth > 4:
        return "", ""
    for code_key, msg_key in _CODE_KEYS:
        if code_key in data:
            code, msg = data.get(code_key), data.get(msg_key)
            return ("" if code is None else str(code)), ("" if msg is None else str(msg))
    for value in data.values():
        if isinstance(value, dict):
            code, msg = _find_error(value, depth + 1)
            if code or msg:
                return code, msg
    return "", ""


def parse_error(status: int, headers: Mapping, body: bytes) -> VendorError:
    """``{"error_code": "MSS.x", "error_msg": "...", "request_id": "..."}`` (and the SDK's fallbacks)."""
    request_id = headers.get("X-Request-Id") or ""
    code = message = ""
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        data = None
        message = body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        code, message = _find_error(data)
        body_request_id = data.get("request_id")
        if isinstance(body_request_id, str) and body_request_id:
            request_id = body_request_id
    error_class = None
    if code in AUTH_CODES:
        error_class = AuthError
    elif code in THROTTLE_CODES:
        error_class = TransportError
    elif code in NOT_FOUND_CODES:
        error_class = NotFoundError
    elif code in CONFIG_CODES:
        error_class = ConfigError
    return VendorError(code, message, request_id, error_class, throttled=code in THROTTLE_CODES)
