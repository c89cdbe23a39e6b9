"""Huawei Cloud MetaStudio: the SDK-HMAC-SHA256 signer and the training-job operations.

Wire facts come from shared/reference/huawei-metastudio.md (section numbers below refer to it).
No Django imports: jobs.providers.get_provider builds this from a CloudAccount.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from urllib.parse import quote, unquote, urlsplit

import orjson

from jobs.providers import fields
from jobs.providers.base import (
    AVATAR_TRAINING,
    METRICS,
    VOICE_ASSESSMENT,
    VOICE_TRAINING,
    AssessmentRecord,
    AuthError,
    ConfigError,
    Detail,
    EventRecord,
    JobRecord,
    Listed,
    MetricRecord,
    NotFoundError,
    Page,
    Provider,
    ResponseError,
    TransportError,
)
from jobs.providers.http import HttpClient, VendorError
from jobs.providers.times import TimeFormatError, parse_epoch, parse_rfc3339

# --------------------------------------------------------------------------------------------
# Signer (§7). Written from the reference; tests compare it with huaweicloudsdkcore's Signer.
# --------------------------------------------------------------------------------------------

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
    string_to_sign = "\n".join(
        [ALGORITHM, sdk_date, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
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


# --------------------------------------------------------------------------------------------
# Errors (§10)
# --------------------------------------------------------------------------------------------

# Gateway / MSS codes that mean "your credentials are wrong", whatever the HTTP status.
AUTH_CODES = {"APIGW.0301", "APIG.0301", "APIGW.0101", "APIG.0101", "MSS.00010008", "MSS.00010009",
              "MSS.00000001", "MSS.000000004"}
THROTTLE_CODES = {"APIGW.0308", "APIG.0308"}
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
    return VendorError(code, message, request_id, error_class)


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------

REGION_RE = re.compile(r"^[a-z]+-[a-z]+(-\d+)?$")
PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PAGE_SIZE = 100  # the documented maximum for every MetaStudio list operation
# Listing pages requested ahead of the one being parsed (SYNC_FETCH_AHEAD; so up to this many
# requests of one listing are in flight at once).
FETCH_AHEAD = 2

# Payload keys never cached: phone numbers (PII) and links that expire in 24 h (§2.2, §2.4, §3.2).
_DROP_KEYS = {"contact", "phone", "voice_authorization_url", "training_input_source_url", "attachment_url",
              "data_uploading_url"}


class _DropDecisions(dict):
    """key -> dropped?, remembered: the same few dozen keys come back on every listed job.

    A hit is a plain dict lookup (no Python call); at most 4096 keys are remembered, so a vendor
    sending ever-new keys cannot grow it without bound.
    """

    def __missing__(self, key) -> bool:
        dropped = isinstance(key, str) and (key in _DROP_KEYS or key.endswith(("_download_url", "_upload_url")))
        if len(self) < 4096:
            self[key] = dropped
        return dropped


_drop_key = _DropDecisions().__getitem__


def strip_payload(data: dict) -> dict:
    """A copy of ``data`` without PII and expiring links."""
    return fields.strip_keys(data, _drop_key)


# The same, in place: for items just parsed from a listing page, which nothing else holds.
_strip_owned = fields.KeyStripper(_drop_key)


def endpoint_for(region: str, endpoint: str = "") -> tuple[str, str]:
    """(base URL without trailing slash, Host header) for a region or an override URL."""
    if endpoint:
        return validate_endpoint(endpoint)
    if not REGION_RE.match(region or ""):
        raise ConfigError(f"invalid Huawei region {region!r} (expected e.g. cn-north-4)")
    host = f"metastudio.{region}.myhuaweicloud.com"
    return f"https://{host}", host


def validate_endpoint(endpoint: str) -> tuple[str, str]:
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("endpoint override must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError("endpoint override must be scheme://host[:port] with no path, query or credentials")
    if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", parts.netloc):
        raise ConfigError("endpoint override has an invalid host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError("endpoint override has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


def _path_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128 or any(ord(c) < 32 for c in job_id):
        raise ValueError(f"invalid job id {job_id!r}")
    return quote(job_id, safe="")


# --------------------------------------------------------------------------------------------
# IAM password tokens (§8): X-Auth-Token instead of AK/SK signing, fetched and refreshed here.
# --------------------------------------------------------------------------------------------

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


def iam_endpoint_for(region: str, endpoint: str = "") -> str:
    if endpoint:
        try:
            return validate_endpoint(endpoint)[0]
        except ConfigError as exc:
            raise ConfigError(f"IAM {exc}") from None
    if not REGION_RE.match(region or ""):
        raise ConfigError(f"invalid Huawei region {region!r} (expected e.g. cn-north-4)")
    return f"https://iam.{region}.myhuaweicloud.com"


def token_request_body(iam: IamPassword, project_id: str) -> bytes:
    """KeystoneCreateUserTokenByPassword, scoped to the MetaStudio project."""
    return orjson.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {
            "user": {"name": iam.user, "password": iam.password, "domain": {"name": iam.domain}}}},
        "scope": {"project": {"id": project_id}},
    }})  # fmt: skip


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
        raise ResponseError(f"IAM token response: no readable token.expires_at ({_short(exc)})",
                            request_id=request_id) from None  # fmt: skip
    if expires_at is None:
        raise ResponseError("IAM token response: empty token.expires_at", request_id=request_id)
    return token, expires_at


class HuaweiProvider(Provider):
    kinds = (AVATAR_TRAINING, VOICE_TRAINING, VOICE_ASSESSMENT)
    listable_kinds = (AVATAR_TRAINING, VOICE_TRAINING)

    def __init__(
        self,
        *,
        region: str,
        project_id: str,
        access_key_id: str = "",
        secret_key: str = "",
        token: str = "",
        endpoint: str = "",
        iam: IamPassword | None = None,
        token_store: TokenStore | None = None,
        page_size: int = PAGE_SIZE,
        fetch_ahead: int = FETCH_AHEAD,
        http_options: dict | None = None,
    ):
        super().__init__()
        self.region = region
        self.fetch_ahead = max(0, min(8, fetch_ahead))
        self.base_url, self.host = endpoint_for(region, endpoint)
        if not PROJECT_ID_RE.match(project_id or ""):
            raise ConfigError("invalid or missing Huawei project id")
        self.project_id = project_id
        self.access_key_id = access_key_id
        self._secret_key = secret_key
        self._token = token
        if secret_key and not access_key_id:
            raise ConfigError("Huawei account has a secret key but no access key id")
        # AK/SK signing first; else an IAM user's fetched token; else the token given as it is.
        self._iam = iam if iam is not None and not secret_key else None
        if self._iam is not None:
            if not (iam.domain and iam.user and iam.password):
                raise ConfigError("Huawei IAM user needs an account (domain) name, a user name and a password")
            self._iam_url = iam_endpoint_for(region, iam.endpoint) + TOKEN_PATH + "?nocatalog=true"
        elif not secret_key and not token:
            raise ConfigError("Huawei account needs an access key id + secret key, an IAM user, or a token")
        self._token_store = token_store or TokenStore()
        self._token_lock = threading.Lock()
        self._iam_token, self._iam_expires, self._store_read = "", 0.0, False
        self._fresh_token = ""  # the token this provider fetched itself
        self.page_size = max(1, min(PAGE_SIZE, page_size))
        options = dict(http_options or {})
        secrets = (secret_key, token, iam.password if iam else "", *options.get("secrets", ()))
        options["secrets"] = [s for s in secrets if s]
        self.http = HttpClient(
            on_attempt=self._on_attempt, request_id_headers=("X-Request-Id",), **options
        )

    def __repr__(self):  # never show secrets, even in a debugger or a traceback's locals
        return f"<HuaweiProvider {self.region} {self.project_id}>"

    # -- transport -------------------------------------------------------------------------

    def _get(self, operation: str, path: str, params: dict | None = None) -> tuple[dict, str]:
        """Sign (per attempt), send, and decode one GET; returns (JSON object, request id)."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        query = canonical_query(params)
        url = self.base_url + path + (f"?{query}" if query else "")
        used = []

        def sign_attempt(headers: dict) -> dict:
            if self._secret_key:
                auth = {"Host": self.host, "X-Project-Id": self.project_id}
                if self._token:
                    # Temporary AK/SK carry a security token, signed like the SDK does.
                    auth["X-Security-Token"] = self._token
                signed = sign(
                    method="GET", path=path, params=params, headers=auth,
                    access_key=self.access_key_id, secret_key=self._secret_key,
                )
                headers.update(signed.headers)
            elif self._iam is not None:
                token = self._iam_token_now()
                used.append(token)
                headers["X-Auth-Token"] = token
            else:
                headers["X-Auth-Token"] = self._token
            return headers

        def send():
            return self.http.request(
                "GET", url, headers={"Accept": "application/json"}, sign=sign_attempt,
                parse_error=parse_error, operation=operation,
            )

        try:
            response = send()
        except AuthError:
            # A token kept from an earlier sync may have been revoked or expired early: get a
            # new one and try once more. A fresh token refused again is a real auth error.
            if not used or not self._forget_token(used[-1]):
                raise
            response = send()
        try:
            data = orjson.loads(response.content)  # invalid UTF-8 is a JSONDecodeError too
        except ValueError as exc:
            raise ResponseError(
                f"{operation}: malformed JSON ({_short(exc)})", request_id=response.request_id,
                status=response.status,
            ) from None
        if not isinstance(data, dict):
            raise ResponseError(
                f"{operation}: expected a JSON object, got {type(data).__name__}",
                request_id=response.request_id, status=response.status,
            )
        return data, response.request_id

    def _iam_token_now(self) -> str:
        """The IAM token to send: the one in hand or the stored one while it has more than
        TOKEN_REFRESH_MARGIN to live, else a new one from IAM (one fetch for all threads)."""
        with self._token_lock:
            if self._iam_token and self._iam_expires - time.time() > TOKEN_REFRESH_MARGIN:
                return self._iam_token
            if not self._store_read:
                self._store_read = True
                token, expires_at = self._token_store.load()
                if token and expires_at is not None:
                    self.http.redact.add(token)
                    self._iam_token, self._iam_expires = token, expires_at.timestamp()
                    if self._iam_expires - time.time() > TOKEN_REFRESH_MARGIN:
                        return token
            token, expires_at = self._fetch_token()
            self._iam_token, self._iam_expires = token, expires_at.timestamp()
            self._fresh_token = token
            self._token_store.save(token, expires_at)
            return token

    def save_state(self) -> None:
        self._token_store.flush()

    def _forget_token(self, token: str) -> bool:
        """Drop a refused token unless it was fetched by this provider; True if dropped."""
        with self._token_lock:
            if token == self._fresh_token:
                return False
            if token == self._iam_token:
                self._iam_token, self._iam_expires = "", 0.0
            return True

    def _fetch_token(self) -> tuple[str, datetime]:
        response = self.http.request(
            "POST", self._iam_url,
            headers={"Content-Type": "application/json;charset=utf8", "Accept": "application/json"},
            body=token_request_body(self._iam, self.project_id), parse_error=parse_error,
            operation="KeystoneCreateUserTokenByPassword", retry=True,  # a new token each time: safe
        )  # fmt: skip
        token, expires_at = parse_token_response(response.headers, response.content, response.request_id)
        self.http.redact.add(token)
        return token, expires_at

    def _project_path(self, tail: str) -> str:
        return f"/v1/{quote(self.project_id, safe='')}/{tail}"

    # -- vendor operations (one method each) -------------------------------------------------

    def list_avatar_jobs(self, offset: int = 0, limit: int = PAGE_SIZE) -> tuple[dict, str]:
        # List2dModelTrainingJob ("Querying Virtual Avatar Model Training Tasks").
        # Sort explicitly: paging needs a stable order and the default differs per API (§12.4).
        return self._get(
            "List2dModelTrainingJob",
            self._project_path("digital-human-training-manage/user/jobs"),
            {"offset": offset, "limit": limit, "sort_key": "create_time", "sort_dir": "asc"},
        )

    def show_avatar_job(self, job_id: str) -> tuple[dict, str]:
        # Show2dModelTrainingJob ("Querying Details About a Virtual Avatar Model Training Task").
        return self._get(
            "Show2dModelTrainingJob",
            self._project_path(f"digital-human-training-manage/user/jobs/{_path_id(job_id)}"),
        )

    def list_voice_jobs(self, offset: int = 0, limit: int = PAGE_SIZE) -> tuple[dict, str]:
        # ListVoiceTrainingJob ("Querying Voice Training Tasks"); its default sort is desc.
        return self._get(
            "ListVoiceTrainingJob",
            self._project_path("voice-training-manage/user/jobs"),
            {"offset": offset, "limit": limit, "sort_key": "create_time", "sort_dir": "asc"},
        )

    def show_voice_job(self, job_id: str) -> tuple[dict, str]:
        # ShowVoiceTrainingJob ("Querying Voice Training Task Details").
        return self._get(
            "ShowVoiceTrainingJob",
            self._project_path(f"voice-training-manage/user/jobs/{_path_id(job_id)}"),
        )

    def list_operation_logs(self, job_id: str, offset: int = 0, limit: int = PAGE_SIZE) -> tuple[dict, str]:
        # ListJobOperationLog ("Querying Task Operation Logs").
        return self._get(
            "ListJobOperationLog",
            self._project_path(f"voice-training-manage/user/jobs/{_path_id(job_id)}/op-logs"),
            {"offset": offset, "limit": limit},
        )

    def show_short_job(self, job_id: str) -> tuple[dict, str]:
        # ShowShortJob ("查询短任务详情").
        return self._get(
            "ShowShortJob",
            self._project_path(f"voice-training-manage/user/short-jobs/{_path_id(job_id)}"),
        )

    def show_audit_result(self, job_id: str) -> tuple[dict, str]:
        # ShowJobAuditResult ("Obtaining the Review Result of a Voice Training Task").
        return self._get(
            "ShowJobAuditResult",
            self._project_path(f"voice-training-manage/user/jobs/{_path_id(job_id)}/audit-result"),
        )

    # -- Provider interface ------------------------------------------------------------------

    def check_connection(self) -> str:
        data, _ = self.list_avatar_jobs(0, 1)
        count = _checked(lambda: fields.integer(data, "count", minimum=0), "List2dModelTrainingJob")
        return f"MetaStudio {self.region}, project {self.project_id}: {count} avatar training job(s)"

    def iter_pages(self, kind: str) -> Iterator[Page]:
        if kind == AVATAR_TRAINING:
            return self._offset_pages(
                self.list_avatar_jobs, "jobs", listed_avatar, "List2dModelTrainingJob", fetch_ahead=True
            )
        if kind == VOICE_TRAINING:
            return self._offset_pages(
                self.list_voice_jobs, "jobs", listed_voice, "ListVoiceTrainingJob", fetch_ahead=True
            )
        raise ValueError(f"{kind} has no list API on MetaStudio")

    def _offset_pages(self, fetch, items_key, parse_item, operation, fetch_ahead=False) -> Iterator[Page]:
        """offset/limit pages until ``count`` is reached or a page comes back empty.

        ``parse_item`` makes a JobRecord, a Listed job or an op-log entry of each item. With
        ``fetch_ahead``, the requests for the next ``self.fetch_ahead`` pages go out (from helper
        threads) as soon as this page's count is known, so the vendor works on them while this
        one is parsed and stored. Pages still come in order, and an error surfaces at the page
        it belongs to."""
        ahead = _FetchAhead(fetch, self.fetch_ahead) if fetch_ahead and self.fetch_ahead > 0 else None
        try:
            yield from self._offset_pages_from(ahead or fetch, items_key, parse_item, operation, ahead)
        finally:
            if ahead is not None:
                ahead.close()

    def _offset_pages_from(self, fetch, items_key, parse_item, operation, ahead) -> Iterator[Page]:
        offset = 0
        previous_ids: list[str] | None = None
        pages = 0
        max_count = 0
        while True:
            data, request_id = fetch(offset, self.page_size)
            if ahead is not None:
                self.last_request_id = request_id  # the page in hand, not the one fetched ahead
            count, items = _checked(
                lambda: (fields.integer(data, "count", minimum=0), fields.object_list(data, items_key)), operation
            )
            if count is None:
                raise ResponseError(f"{operation}: response has no count", request_id=request_id)
            step = min(len(items), self.page_size)
            next_offset = offset + step
            if ahead is not None and items:
                # Pages are assumed to keep this page's length (a server may cap them).
                ahead.start(next_offset, self.page_size, step, count)
            records = [parse_item(item) for item in items]
            ids = [r.remote_id for r in records]
            # A server that ignores offset would otherwise be paged until `count` runs out.
            if ids and ids == previous_ids:
                raise ResponseError(
                    f"{operation}: the page at offset {offset} repeats the previous page; listing stopped",
                    request_id=request_id,
                )
            pages += 1
            max_count = max(max_count, count)
            if pages > math.ceil(max_count / self.page_size) + 5:
                raise ResponseError(f"{operation}: more pages than count={max_count} allows; listing stopped",
                                    request_id=request_id)
            # A server may cap pages below our limit (advance by what came) or send more than
            # asked, e.g. repeating jobs from the previous page (advance by the limit, or skip some).
            offset = next_offset
            done = not items or offset >= count
            listed = records if records and isinstance(records[0], Listed) else None
            yield Page(
                None if listed else records, total=count, next_cursor=None if done else offset,
                request_id=request_id, listed=listed,
            )  # fmt: skip
            if done:
                return
            previous_ids = ids

    def get_job(self, kind: str, remote_id: str) -> JobRecord | None:
        show, parse_item = {
            AVATAR_TRAINING: (self.show_avatar_job, avatar_record),
            VOICE_TRAINING: (self.show_voice_job, voice_record),
            VOICE_ASSESSMENT: (self.show_short_job, short_job_record),
        }[kind]
        try:
            data, _ = show(remote_id)
        except NotFoundError:
            return None
        record = parse_item(data)
        if record.remote_id != remote_id:
            raise ResponseError(f"asked for job {remote_id}, the vendor answered job {record.remote_id}")
        return record

    def fetch_detail(self, record: JobRecord) -> Detail:
        if record.kind == AVATAR_TRAINING:
            data, _ = self.show_avatar_job(record.remote_id)
            merged = {**record.payload, **data}
            return Detail(avatar_record(merged), avatar_events(data, record.remote_id))
        if record.kind == VOICE_TRAINING:
            events = self.voice_operation_events(record.remote_id)
            if record.state == "AUDIT_FAILED":
                data, _ = self.show_audit_result(record.remote_id)
                events += audit_events(data, record.remote_id)
            return Detail(record, events)
        if record.kind == VOICE_ASSESSMENT:
            data, _ = self.show_short_job(record.remote_id)
            return Detail(short_job_record(data), [])
        raise ValueError(f"{record.kind} is not a MetaStudio job kind")

    def voice_operation_events(self, job_id: str) -> list[EventRecord]:
        events: list[EventRecord] = []
        for page in self._offset_pages(
            lambda offset, limit: self.list_operation_logs(job_id, offset, limit),
            "operations",
            _OpLogItem,
            "ListJobOperationLog",
        ):
            events.extend(item.event for item in page.records if item.event is not None)
        return events


class _FetchAhead:
    """``fetch(offset, limit)`` run up to FETCH_AHEAD calls ahead in helper threads (see
    _offset_pages).

    Calling it returns the answer for that offset: the one fetched ahead when it matches, or
    a fresh call. A helper's exception is raised by the call that wanted its answer.
    """

    def __init__(self, fetch, depth: int):
        self._fetch = fetch
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="metastudio-fetch-ahead")
        self._pending: dict[tuple[int, int], Future] = {}

    def start(self, offset: int, limit: int, step: int, count: int):
        """Fetch the pages at ``offset``, ``offset + step``… (below ``count``) not under way yet."""
        for _ in range(self._depth):
            if offset >= count or len(self._pending) >= self._depth:
                return
            key = (offset, limit)
            if key not in self._pending:
                self._pending[key] = self._pool.submit(self._fetch, offset, limit)
            offset += step

    def __call__(self, offset: int, limit: int):
        future = self._pending.pop((offset, limit), None)
        if future is None:
            self._cancel()  # the listing moved differently from what was fetched ahead
            return self._fetch(offset, limit)
        return future.result()

    def _cancel(self):
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def close(self):
        """Waits for requests still in flight (bounded by the HTTP timeouts); their answers are dropped."""
        self._cancel()
        self._pool.shutdown(wait=True)


# --------------------------------------------------------------------------------------------
# Normalisation: vendor JSON -> records. Pure functions, tested on the documented samples.
# --------------------------------------------------------------------------------------------


def _short(exc) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _checked(build, context: str):
    """Run a parsing step; turn a bad field or time into a ResponseError that says where."""
    try:
        return build()
    except (fields.FieldError, TimeFormatError) as exc:
        raise ResponseError(f"{context}: {_short(exc)}") from None


def _time(item: Mapping, key: str, parse):
    try:
        return parse(item.get(key))
    except TimeFormatError as exc:
        raise fields.FieldError(f"{key}: {exc}") from None


def _job_context(item, label: str) -> str:
    job_id = item.get("job_id") if isinstance(item, Mapping) else None
    return f"{label} {job_id}" if isinstance(job_id, str) and job_id else label


def avatar_record(item, *, stripped: bool = False) -> JobRecord:
    """List2dModelTrainingJob item or Show2dModelTrainingJob body -> JobRecord (times RFC 3339).

    ``stripped``: the item is already a strip_payload() result, stored as the payload as it is.
    """
    if not isinstance(item, dict):
        raise ResponseError(f"avatar job: expected an object, got {type(item).__name__}")
    # Inline rather than through _checked: this runs for every listed job, and the error
    # context (the job id) is only worth building when a field is bad.
    try:
        return JobRecord(
            kind=AVATAR_TRAINING,
            remote_id=fields.identifier(item, "job_id"),
            name=fields.text(item, "name", max_len=512),
            state=fields.text(item, "state", max_len=64),
            created_at=_time(item, "create_time", parse_rfc3339),
            updated_at=_time(item, "last_update_time", parse_rfc3339),
            batch=fields.text(item, "batch_name"),
            tags=fields.string_list(item, "tags"),
            edition=fields.text(item, "model_version", max_len=64),
            linked_job_id=fields.text(item, "voice_train_job_id", max_len=128),
            asset_id=fields.text(item, "asset_id", max_len=128),
            payload=item if stripped else strip_payload(item),
        )
    except (fields.FieldError, TimeFormatError) as exc:
        raise ResponseError(f"{_job_context(item, 'avatar job')}: {_short(exc)}") from None


def voice_record(item, *, stripped: bool = False) -> JobRecord:
    """ListVoiceTrainingJob item / ShowVoiceTrainingJob body -> JobRecord (times epoch numbers)."""
    if not isinstance(item, dict):
        raise ResponseError(f"voice job: expected an object, got {type(item).__name__}")
    try:  # inline, like avatar_record: the listing hot path
        tag = fields.text(item, "tag", max_len=64)
        return JobRecord(
            kind=VOICE_TRAINING,
            remote_id=fields.identifier(item, "job_id"),
            name=fields.text(item, "voice_name", max_len=512),
            state=fields.text(item, "state", max_len=64),
            created_at=_time(item, "create_time", parse_epoch),
            # Vendor spelling: "lastupdate_time" here, "last_update_time" on avatar jobs.
            updated_at=_time(item, "lastupdate_time", parse_epoch),
            batch=fields.text(item, "batch_name"),
            tags=(tag,) if tag else (),
            edition=fields.text(item, "job_type", max_len=64),
            language=fields.text(item, "language", max_len=64),
            linked_job_id=fields.text(item, "dhtms_job_id", max_len=128),
            asset_id=fields.text(item, "asset_id", max_len=128),
            error_code=fields.text(item, "job_failed_code", max_len=64),
            error_message=fields.text(item, "job_failed_reason", max_len=4000),
            payload=item if stripped else strip_payload(item),
            assessment=assessment(fields.mapping(item, "assess_result")),
        )
    except (fields.FieldError, TimeFormatError) as exc:
        raise ResponseError(f"{_job_context(item, 'voice job')}: {_short(exc)}") from None


def _listed(kind: str, label: str, build, item) -> Listed:
    """A listed job, not normalised yet (see base.Listed): its validated id and stripped payload."""
    if not isinstance(item, dict):
        raise ResponseError(f"{label}: expected an object, got {type(item).__name__}")
    try:
        remote_id = fields.identifier(item, "job_id")
    except fields.FieldError as exc:
        raise ResponseError(f"{label}: {_short(exc)}") from None
    return Listed(kind, remote_id, _strip_owned(item), build)


listed_avatar = partial(_listed, AVATAR_TRAINING, "avatar job", partial(avatar_record, stripped=True))
listed_voice = partial(_listed, VOICE_TRAINING, "voice job", partial(voice_record, stripped=True))


def short_job_record(item) -> JobRecord:
    """ShowShortJob body (a VOICE_ASSESS job) -> JobRecord with its assessment."""
    if not isinstance(item, dict):
        raise ResponseError(f"short job: expected an object, got {type(item).__name__}")

    def build():
        return JobRecord(
            kind=VOICE_ASSESSMENT,
            remote_id=fields.identifier(item, "job_id"),
            state=fields.text(item, "state", max_len=64),
            created_at=_time(item, "create_time", parse_epoch),
            updated_at=_time(item, "lastupdate_time", parse_epoch),
            edition=fields.text(item, "job_type", max_len=64),
            language=fields.text(item, "language", max_len=64),
            error_code=fields.text(item, "job_failed_code", max_len=64),
            error_message=fields.text(item, "job_failed_reason", max_len=4000),
            payload=strip_payload(item),
            assessment=assessment(fields.mapping(item, "assess_result")),
        )

    return _checked(build, _job_context(item, "short job"))


def assessment(result: dict) -> AssessmentRecord | None:
    """AssessResult: six AssessProperty metrics (§5.3) + an overall suggestion; None when absent."""
    if not result:
        return None
    metrics = []
    for name in METRICS:
        prop = fields.mapping(result, name)
        if not prop:
            continue
        try:
            metrics.append(
                MetricRecord(
                    metric=name,
                    expected=fields.text(prop, "expected"),
                    actual=fields.text(prop, "actual"),
                    status=fields.integer(prop, "status", minimum=-32768, maximum=32767),
                    suggestion=fields.text(prop, "suggestion", max_len=4000),
                    suggestion_en=fields.text(prop, "suggestion_en", max_len=4000),
                )
            )
        except fields.FieldError as exc:
            raise fields.FieldError(f"assess_result.{name}.{exc}") from None
    return AssessmentRecord(suggestion=fields.text(result, "suggestion", max_len=4000), metrics=tuple(metrics))


def avatar_events(detail: dict, job_id: str = "") -> list[EventRecord]:
    """Show2dModelTrainingJob ``operation_logs`` (oplog) and ``comment_logs`` (comment)."""

    def build():
        events = []
        for log in fields.object_list(detail, "operation_logs"):
            occurred = _time(log, "operate_time", parse_rfc3339)
            if occurred is None:
                continue
            details = {}
            if code := fields.text(log, "error_code", max_len=64):
                details["error_code"] = code
            if reasons := fields.string_list(log, "redo_reasons", max_len=500):
                details["redo_reasons"] = list(reasons)
            events.append(
                EventRecord(
                    occurred_at=occurred,
                    source="oplog",
                    action=fields.text(log, "log_type", max_len=128),  # open set; typos such as USER_CREATE_JOD kept
                    operator=fields.text(log, "operate_user", max_len=32),
                    message=fields.text(log, "log_description", max_len=4000),
                    details=details,
                )
            )
        for log in fields.object_list(detail, "comment_logs"):
            occurred = _time(log, "operate_time", parse_rfc3339)
            if occurred is None:
                continue
            comment_type = fields.text(log, "comment_type", max_len=128)
            title = fields.text(log, "comment_title", max_len=500)
            body = fields.text(log, "comment_message", max_len=4000)
            events.append(
                EventRecord(
                    occurred_at=occurred,
                    source="comment",
                    action=comment_type,
                    operator="ADMIN" if comment_type.startswith("ADMIN") else "USER" if comment_type else "",
                    message="\n".join(part for part in (title, body) if part),
                    details={"title": title} if title else {},
                )
            )
        return events

    return _checked(build, f"avatar job {job_id} logs" if job_id else "avatar job logs")


class _OpLogItem:
    """One ListJobOperationLog entry, validated; paged like a job (``remote_id`` for the loop guard)."""

    __slots__ = ("remote_id", "event")

    def __init__(self, item):
        if not isinstance(item, dict):
            raise ResponseError(f"op-log entry: expected an object, got {type(item).__name__}")
        self.event = _checked(lambda: oplog_event(item), "ListJobOperationLog")
        # Entries have no id; the entry's JSON identifies a repeated page.
        self.remote_id = json.dumps(item, sort_keys=True, default=str)


def oplog_event(item: dict) -> EventRecord | None:
    """OperationLogItem {time (epoch), action, operator, external_info} -> EventRecord."""
    occurred = _time(item, "time", parse_epoch)
    if occurred is None:
        return None
    info = fields.mapping(item, "external_info")
    reason = fields.text(info, "algorithm_failure_reason", max_len=4000) or fields.text(
        info, "admin_audit_failure_reason", max_len=4000
    )
    details = {}
    if review_ids := fields.string_list(info, "review_id_list", max_len=128):
        details["review_id_list"] = list(review_ids)
    for key in ("algorithm_failure_reason", "admin_audit_failure_reason"):
        if value := fields.text(info, key, max_len=4000):
            details[key] = value
    return EventRecord(
        occurred_at=occurred,
        source="oplog",
        action=fields.text(item, "action", max_len=128),  # open set (docs disagree: MOUNTING_FINISH)
        operator=fields.text(item, "operator", max_len=32),
        message=reason,
        details=details,
    )


def audit_events(data: dict, job_id: str = "") -> list[EventRecord]:
    """ShowJobAuditResult: the system review (per-file errors) and the admin review, as events."""

    def build():
        events = []
        system = fields.mapping(data, "system_audit_result")
        occurred = _time(system, "audit_time", parse_epoch)
        errors = fields.object_list(system, "errors")
        if occurred and (system or errors):
            items = [
                {
                    "audio_name": fields.text(e, "audio_name", max_len=255),
                    "text_name": fields.text(e, "text_name", max_len=255),
                    "error_code": fields.text(e, "error_code", max_len=64),
                    "error_message": fields.text(e, "error_message", max_len=1000),
                }
                for e in errors[:200]
            ]
            message = "; ".join(
                f"{e['audio_name'] or e['text_name'] or '?'}: {e['error_message'] or e['error_code']}" for e in items
            )
            events.append(
                EventRecord(occurred, "audit", action="SYSTEM_AUDIT", operator="SYSTEM",
                            message=message[:4000], details={"errors": items} if items else {})
            )
        admin = fields.mapping(data, "admin_audit_result")
        occurred = _time(admin, "audit_time", parse_epoch)
        if occurred and admin:
            attachment = fields.text(admin, "attachment_name", max_len=255)
            events.append(
                EventRecord(occurred, "audit", action="ADMIN_AUDIT", operator="ADMIN",
                            message=fields.text(admin, "message", max_len=4000),
                            details={"attachment_name": attachment} if attachment else {})
            )
        return events

    return _checked(build, f"voice job {job_id} audit result" if job_id else "audit result")
