"""Signature verification, written from the vendor documents (never from a client's code).

Huawei APIG "SDK-HMAC-SHA256" (docs/vendors/huawei-metastudio.md §7) and COS "q-sign" HMAC-SHA1
(docs/vendors/tencent-ci.md §6).
Both verifiers rebuild the canonical request from what was received and take `now` (epoch
seconds) as an argument, so the reference test vectors can be checked at their own dates.
Each returns None when the request is authentic, else an AuthError carrying the vendor's
status, code and message.
"""

import hashlib
import hmac
import re
from calendar import timegm
from dataclasses import dataclass
from time import strptime
from urllib.parse import quote, unquote

HUAWEI_ALGORITHM = "SDK-HMAC-SHA256"
HUAWEI_MAX_SKEW = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class AuthError:
    status: int
    code: str
    message: str


def split_query(raw_query):
    """[(key, value)] decoded, in the order received; `a` without `=` has an empty value."""
    pairs = []
    if not raw_query:
        return pairs
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


# --- Huawei -------------------------------------------------------------------------------


def _hw_encode(text):
    return quote(text, safe="~")


def huawei_canonical_request(method, raw_path, raw_query, headers, signed_headers, body, payload_hash=None):
    """headers: {lower-case name: value}. signed_headers: lower-case names in signed order."""
    segments = [_hw_encode(seg) for seg in unquote(raw_path).split("/")]
    uri = "/".join(segments)
    if not uri.endswith("/"):
        uri += "/"  # the canonical URI always ends in "/", the request line never does
    query = "&".join(f"{_hw_encode(k)}={_hw_encode(v)}" for k, v in sorted(split_query(raw_query)))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    if payload_hash is None:
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    return "\n".join([method.upper(), uri, query, canonical_headers, ";".join(signed_headers), payload_hash])


def huawei_string_to_sign(canonical_request, sdk_date):
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{HUAWEI_ALGORITHM}\n{sdk_date}\n{digest}"


def huawei_signature(secret_key, string_to_sign):
    return hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


_HW_AUTH = re.compile(r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$")


def _apig(message):
    return AuthError(401, "APIGW.0301", "Incorrect IAM authentication information: " + message)


def verify_huawei(method, raw_path, raw_query, headers, body, creds, now, token_state=None):
    """creds: dict with ak, sk, project_id and optionally token (a static, never-expiring one).

    token_state(token) tells whether an IAM-issued token is "valid" or "expired" (None: never
    issued). It is the caller's because tokens expire on the simulator's virtual clock, while
    `now` here is the clock that signatures are checked against.
    """
    token = headers.get("x-auth-token")
    if token is not None:
        if creds.get("token") and hmac.compare_digest(token, creds["token"]):
            return None
        state = token_state(token) if token_state else None
        if state == "valid":
            return None
        if state == "expired":
            return _apig("token expires")
        return _apig("decrypt token fail")
    authorization = headers.get("authorization")
    if not authorization:
        return _apig("x-auth-token not found")
    match = _HW_AUTH.match(authorization)
    if not match:
        return _apig("verify aksk signature fail")
    access, signed, signature = match.groups()
    if access != creds["ak"]:
        return _apig("ak not exist")
    sdk_date = headers.get("x-sdk-date", "")
    try:
        signed_at = timegm(strptime(sdk_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return _apig("x-sdk-date is invalid")
    if abs(now - signed_at) > HUAWEI_MAX_SKEW:
        return _apig("signature expired")
    signed_headers = signed.lower().split(";")
    if "x-sdk-date" not in signed_headers or any(name not in headers for name in signed_headers):
        return _apig("verify aksk signature fail")
    # MetaStudio requires X-Project-Id with AK/SK (the gateway has no project otherwise).
    project = headers.get("x-project-id")
    if project is None:
        return _apig("x-project-id not found")
    if project != creds["project_id"]:
        return _apig("project id is invalid")
    canonical = huawei_canonical_request(
        method,
        raw_path,
        raw_query,
        headers,
        signed_headers,
        body,
        payload_hash=headers.get("x-sdk-content-sha256"),
    )
    expected = huawei_signature(creds["sk"], huawei_string_to_sign(canonical, sdk_date))
    if not hmac.compare_digest(expected, signature.lower()):
        return _apig("verify aksk signature fail")
    return None


# --- Tencent COS q-sign -------------------------------------------------------------------


def _cos_encode(text):
    # Everything but A-Z a-z 0-9 - _ . ~ is percent-encoded; space is %20, never "+".
    return quote(text, safe="-_.~")


def cos_sign_key(secret_key, key_time):
    return hmac.new(secret_key.encode("utf-8"), key_time.encode("utf-8"), hashlib.sha1).hexdigest()


def cos_http_string(method, path, params, headers):
    """params, headers: {encoded lower-case key: encoded value}; path is the decoded path."""
    return "{}\n{}\n{}\n{}\n".format(
        method.lower(),
        path,
        "&".join(f"{k}={v}" for k, v in sorted(params.items())),
        "&".join(f"{k}={v}" for k, v in sorted(headers.items())),
    )


def cos_signature(secret_key, key_time, http_string):
    string_to_sign = "sha1\n{}\n{}\n".format(key_time, hashlib.sha1(http_string.encode("utf-8")).hexdigest())
    sign_key = cos_sign_key(secret_key, key_time)
    return hmac.new(sign_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).hexdigest()


def _ci(status, code, message):
    return AuthError(status, code, message)


_Q_KEYS = ("q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list", "q-signature")


def verify_cos(method, raw_path, raw_query, headers, creds, now):
    """creds: dict with secret_id, secret_key and optionally token."""
    query = split_query(raw_query)
    authorization = headers.get("authorization")
    if authorization:
        fields = dict(part.partition("=")[::2] for part in authorization.split("&"))
    else:
        fields = {k.lower(): v for k, v in query if k.lower().startswith("q-")}
        if "q-signature" not in fields:
            return _ci(401, "MissingAuthorization", "Authorization header or query is missing")
    if any(key not in fields for key in _Q_KEYS) or fields["q-sign-algorithm"].lower() != "sha1":
        return _ci(401, "InvalidAuthorization", "The Authorization is not in a valid format")
    if fields["q-ak"] != creds["secret_id"]:
        return _ci(401, "SecretidNotExist", "The SecretId does not exist")
    try:
        start, end = (int(x) for x in fields["q-sign-time"].split(";"))
    except ValueError:
        return _ci(401, "InvalidAuthorization", "q-sign-time is not valid")
    if start > end:
        return _ci(401, "InvalidAuthorization", "q-sign-time is not valid")
    if not start <= now <= end:
        return _ci(401, "SignatureExpired", "Request has expired or is not yet valid")
    if creds.get("token"):
        token = headers.get("x-cos-security-token") or headers.get("x-ci-security-token")
        if token is None:
            token = next((v for k, v in query if k.lower() in ("x-cos-security-token", "x-ci-security-token")), None)
        if token is None or not hmac.compare_digest(token, creds["token"]):
            return _ci(401, "InvalidAuthorization", "The security token is invalid")

    received_params = {}
    for key, value in query:
        received_params.setdefault(_cos_encode(key).lower(), _cos_encode(value))
    received_headers = {_cos_encode(k).lower(): v for k, v in headers.items()}
    params = {}
    for name in filter(None, fields["q-url-param-list"].lower().split(";")):
        if name not in received_params:
            return _ci(401, "AccessDenied", "Access denied: a signed parameter is missing")
        params[name] = received_params[name]
    candidates = [{}]
    for name in filter(None, fields["q-header-list"].lower().split(";")):
        if name not in received_headers:
            return _ci(401, "AccessDenied", "Access denied: a signed header is missing")
        value = received_headers[name]
        for candidate in candidates:
            candidate[name] = _cos_encode(value)
        if name == "host" and ":" in value:
            # The Python SDK signs the host name without the port while sending host:port.
            candidates = candidates + [dict(c, host=_cos_encode(value.rsplit(":", 1)[0])) for c in candidates]
    signature = fields["q-signature"].lower()
    path = unquote(raw_path)
    for signed_headers in candidates:
        expected = cos_signature(
            creds["secret_key"], fields["q-key-time"], cos_http_string(method, path, params, signed_headers)
        )
        if hmac.compare_digest(expected, signature):
            return None
    return _ci(401, "AccessDenied", "Access denied: the signature does not match")
