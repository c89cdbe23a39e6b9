"""Tencent Cloud Infinite (CI): the COS q-sign signer and the translation-job operations.

Wire facts: docs/vendors/tencent-ci.md (section numbers below refer to it).
XML is parsed only through defusedxml. No Django imports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlsplit

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from jobs.providers import fields
from jobs.providers.base import (
    TRANSLATION,
    AuthError,
    ConfigError,
    Detail,
    JobRecord,
    Listed,
    NotFoundError,
    Page,
    Provider,
    ResponseError,
    TransportError,
)
from jobs.providers.http import HttpClient, VendorError, validate_endpoint
from jobs.providers.times import TimeFormatError, parse_offset_time

# --------------------------------------------------------------------------------------------
# Signer (§6). Written from the vendor notes; tests compare it with qcloud_cos's CosS3Auth.
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# XML (§2.2, §10, §12)
# --------------------------------------------------------------------------------------------

_MAX_DEPTH = 32


def _local(tag: str) -> str:
    # Drop a namespace, as the SDK does. CI sends none: skip the split then (every element).
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag


def parse_xml(content: bytes, operation: str = "", request_id: str = ""):
    """Parse an untrusted body with defusedxml (no DTDs, entities or external references)."""
    try:
        return SafeET.fromstring(content)
    except DefusedXmlException as exc:
        raise ResponseError(f"{operation}: XML with a forbidden construct ({type(exc).__name__})",
                            request_id=request_id) from None
    except SafeET.ParseError as exc:
        raise ResponseError(f"{operation}: malformed XML ({exc})", request_id=request_id) from None


def element_to_dict(element, depth: int = 0):
    """Children become keys (repeated children a list); a leaf becomes its stripped text."""
    if depth > _MAX_DEPTH:
        raise fields.FieldError("XML nested too deeply")
    if not len(element):
        return (element.text or "").strip()
    out: dict = {}
    for child in element:
        name = _local(child.tag)
        # A leaf inline (most elements are; the depth bound still applies): saves a call per
        # field of every listed job.
        if len(child) or depth >= _MAX_DEPTH:
            value = element_to_dict(child, depth + 1)
        else:
            value = (child.text or "").strip()
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


AUTH_CODES = {"MissingAuthorization", "InvalidAuthorization", "AccessDenied", "SecretidNotExist",
              "SignatureExpired"}
THROTTLE_CODES = {"SlowDown"}


def parse_error(status: int, headers: Mapping, body: bytes) -> VendorError:
    """``<Error><Code/><Message/><RequestId/><TraceId/></Error>`` (no <Resource>), or the
    JSON form {code, message, request_id} the Go SDK also accepts; ``x-ci-request-id`` header."""
    request_id = headers.get("x-ci-request-id") or headers.get("x-cos-request-id") or ""
    code = message = ""
    stripped = body.lstrip()
    if stripped.startswith(b"<"):
        try:
            root = SafeET.fromstring(body)
        except (DefusedXmlException, SafeET.ParseError):
            root = None
        if root is not None and _local(root.tag) == "Error":
            for child in root:
                name, text = _local(child.tag), (child.text or "").strip()
                if name == "Code":
                    code = text
                elif name == "Message":
                    message = text
                elif name == "RequestId" and text:
                    request_id = text
    elif stripped.startswith(b"{"):
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if isinstance(data, dict):
            code, message = str(data.get("code") or ""), str(data.get("message") or "")
            request_id = str(data.get("request_id") or request_id)
    error_class = AuthError if code in AUTH_CODES else TransportError if code in THROTTLE_CODES else None
    return VendorError(code, message, request_id, error_class)


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------

REGION_RE = re.compile(r"^[a-z]+-[a-z]+(-\d+)?$")
BUCKET_RE = re.compile(r"^[a-z0-9-]+-\d+$")
QUEUE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LIST_PATHS = ("/ai_jobs", "/jobs")
PAGE_SIZE = 100  # documented maximum
# A page with no jobs but a NextToken is followed (the service may skip a window), at most this
# many times in a row; after that the listing is reported incomplete instead of looping.
MAX_EMPTY_PAGES = 2
MAX_PAGES = 100_000
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_SAFE_PATH = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")


def endpoint_for(region: str, bucket: str, endpoint: str = "") -> tuple[str, str]:
    if not BUCKET_RE.match(bucket or ""):
        raise ConfigError(f"invalid bucket {bucket!r} (expected name-APPID, e.g. examplebucket-1250000000)")
    if endpoint:
        return validate_endpoint(endpoint)
    if not REGION_RE.match(region or ""):
        raise ConfigError(f"invalid Tencent region {region!r} (expected e.g. ap-guangzhou)")
    host = f"{bucket}.ci.{region}.myqcloud.com"
    return f"https://{host}", host


class TencentProvider(Provider):
    kinds = (TRANSLATION,)
    listable_kinds = (TRANSLATION,)

    def __init__(
        self,
        *,
        region: str,
        bucket: str,
        secret_id: str,
        secret_key: str,
        token: str = "",
        queue_id: str = "",
        list_path: str = "/ai_jobs",
        endpoint: str = "",
        page_size: int = PAGE_SIZE,
        http_options: dict | None = None,
    ):
        super().__init__()
        self.region = region
        self.bucket = bucket
        self.base_url, self.host = endpoint_for(region, bucket, endpoint)
        if not secret_id or not secret_key:
            raise ConfigError("Tencent account needs a SecretId and a SecretKey")
        if queue_id and not QUEUE_ID_RE.match(queue_id):
            raise ConfigError(f"invalid queue id {queue_id!r}")
        if (list_path or "/ai_jobs") not in LIST_PATHS:
            raise ConfigError(f"list path must be one of {', '.join(LIST_PATHS)}")
        self.secret_id = secret_id
        self._secret_key = secret_key
        self._token = token
        self.queue_id = queue_id
        self.list_path = list_path or "/ai_jobs"
        self.page_size = max(1, min(PAGE_SIZE, page_size))
        options = dict(http_options or {})
        options["secrets"] = [s for s in (secret_key, token, *options.get("secrets", ())) if s]
        self.http = HttpClient(
            on_attempt=self._on_attempt, request_id_headers=("x-ci-request-id", "x-cos-request-id"), **options
        )

    def __repr__(self):
        return f"<TencentProvider {self.bucket} {self.region}>"

    # -- transport -------------------------------------------------------------------------

    def _get(self, operation: str, path: str, params: dict[str, str] | None = None):
        """Sign (per attempt: q-sign-time must be fresh), send, parse; returns (root, request id)."""
        # Paths here are built from safe characters only, so the decoded path (signed) and the
        # path sent are the same string.
        assert _SAFE_PATH.match(path), path
        params = {k: str(v) for k, v in (params or {}).items() if v is not None}
        query = "&".join(f"{encode(k)}={encode(v)}" for k, v in params.items())
        url = self.base_url + path + (f"?{query}" if query else "")
        # Like the SDK, sign the URL's host name without a port (an endpoint override may have one).
        signed_host = urlsplit(self.base_url).hostname

        def sign_attempt(headers: dict) -> dict:
            to_sign = {"host": signed_host}
            if self._token:
                to_sign[TOKEN_HEADER] = self._token
                headers[TOKEN_HEADER] = self._token
            headers["Host"] = self.host
            headers["Authorization"] = sign(
                method="GET", path=path, params=params, headers=to_sign,
                secret_id=self.secret_id, secret_key=self._secret_key,
            )
            return headers

        response = self.http.request(
            "GET", url, headers={"Accept": "application/xml"}, sign=sign_attempt,
            parse_error=parse_error, operation=operation,
        )
        root = parse_xml(response.content, operation, response.request_id)
        if _local(root.tag) != "Response":
            raise ResponseError(f"{operation}: expected a <Response> document, got <{_local(root.tag)}>",
                                request_id=response.request_id)
        return root, response.request_id

    # -- vendor operations -------------------------------------------------------------------

    def list_jobs(self, next_token: str = "", size: int = PAGE_SIZE):
        # DescribeMediaJobs ("Pulling Content Recognition Jobs in Batches" / seed 004, GET /ai_jobs).
        # Oldest first: new jobs land at the end, so a listing in progress never shifts.
        params = {"tag": "Translation", "size": str(size), "orderByTime": "Asc", "nextToken": next_token}
        if self.queue_id:
            params["queueId"] = self.queue_id
        return self._get("DescribeMediaJobs", self.list_path, params)

    def describe_job(self, job_id: str):
        # DescribeAIJob ("Querying job", GET /ai_jobs/<jobId>).
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise ValueError(f"invalid CI job id {job_id!r}")
        return self._get("DescribeAIJob", f"/ai_jobs/{job_id}")

    # -- Provider interface ------------------------------------------------------------------

    def check_connection(self) -> str:
        root, _ = self.list_jobs(size=1)
        jobs = [c for c in root if _local(c.tag) == "JobsDetail"]
        return (
            f"CI {self.bucket} ({self.region}), {self.list_path}: listing works"
            f" ({'at least one' if jobs else 'no'} translation job)"
        )

    def iter_pages(self, kind: str) -> Iterator[Page]:
        if kind != TRANSLATION:
            raise ValueError(f"{kind} is not a Tencent CI job kind")
        return self._pages()

    def _pages(self) -> Iterator[Page]:
        """Follow NextToken to the end. A token seen before means the service is looping: the
        listing is reported incomplete (ResponseError) so the sync marks nothing as gone."""
        token = ""
        seen_tokens: set[str] = set()
        empty_in_a_row = 0
        for _ in range(MAX_PAGES):
            root, request_id = self.list_jobs(token, self.page_size)
            records = [listed_translation(element_to_dict_checked(e)) for e in root
                       if _local(e.tag) == "JobsDetail"]
            next_token = ""
            for child in root:
                if _local(child.tag) == "NextToken":
                    next_token = (child.text or "").strip()
            if next_token and (next_token == token or next_token in seen_tokens):
                raise ResponseError(f"DescribeMediaJobs: NextToken {next_token[:40]!r} repeated; listing stopped",
                                    request_id=request_id)
            empty_in_a_row = 0 if records else empty_in_a_row + 1
            if next_token and empty_in_a_row > MAX_EMPTY_PAGES:
                raise ResponseError(
                    f"DescribeMediaJobs: {empty_in_a_row} empty pages in a row that still carry a NextToken;"
                    " listing stopped", request_id=request_id,
                )
            yield Page(total=None, next_cursor=next_token or None, request_id=request_id, listed=records)
            if not next_token:
                return
            seen_tokens.add(token)
            token = next_token
        raise ResponseError(f"DescribeMediaJobs: more than {MAX_PAGES} pages; listing stopped")

    def get_job(self, kind: str, remote_id: str) -> JobRecord | None:
        if kind != TRANSLATION:
            raise ValueError(f"{kind} is not a Tencent CI job kind")
        try:
            root, request_id = self.describe_job(remote_id)
        except NotFoundError:
            return None
        missing = ""
        for child in root:
            name = _local(child.tag)
            if name == "JobsDetail":
                record = translation_record(element_to_dict_checked(child))
                if record.remote_id == remote_id:
                    return record
            elif name == "NonExistJobIds":
                missing += "," + (child.text or "")
        if remote_id in {part.strip() for part in missing.split(",")}:
            return None
        raise ResponseError(f"DescribeAIJob: the answer holds neither job {remote_id} nor NonExistJobIds",
                            request_id=request_id)

    def fetch_detail(self, record: JobRecord) -> Detail:
        # The list already carries everything CI knows about a translation job; no extra call.
        return Detail(record, [])


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

# Bump on purpose whenever the records these parsers make from the same vendor XML change
# (field mapping, cuts, stripping). The sync's listed-job fingerprints include it, so the next
# sync re-normalises every cached job of these kinds once. tests/test_normalisation_golden.py
# fails when the output changes without a bump.
NORMALISATION_VERSION = 1


def element_to_dict_checked(element) -> dict:
    try:
        data = element_to_dict(element)
    except fields.FieldError as exc:
        raise ResponseError(f"JobsDetail: {exc}") from None
    if not isinstance(data, dict):
        raise ResponseError("JobsDetail: empty element")
    return data


def _time(item: Mapping, key: str):
    try:
        return parse_offset_time(item.get(key))
    except TimeFormatError as exc:
        raise fields.FieldError(f"{key}: {exc}") from None


def _container(obj: Mapping, key: str) -> dict:
    # An empty XML element parses as "": treat it like an absent container.
    return {} if obj.get(key) == "" else fields.mapping(obj, key)


def _arrow(left: str, right: str) -> str:
    return f"{left}→{right}" if (left or right) else ""


def listed_translation(job: dict) -> Listed:
    """A listed translation job, not normalised yet (see base.Listed); CI sends no PII or links
    to strip, so the payload is the job as parsed."""
    try:
        return Listed(TRANSLATION, fields.identifier(job, "JobId"), job, translation_record)
    except fields.FieldError as exc:
        raise ResponseError(f"JobsDetail: {exc}") from None


def translation_record(job: dict) -> JobRecord:
    """A JobsDetail (as a dict, §3) -> JobRecord. Times are ``+0800`` strings; ``-``/empty = unset."""
    try:
        job_id = fields.identifier(job, "JobId")
    except fields.FieldError as exc:
        raise ResponseError(f"JobsDetail: {exc}") from None
    try:
        source = _container(job, "Input")
        target = _container(_container(job, "Operation"), "Translation")
        state = fields.text(job, "State", max_len=64)
        created = _time(job, "CreationTime")
        started = _time(job, "StartTime")
        finished = _time(job, "EndTime")
        failed = state == "Failed"
        return JobRecord(
            kind=TRANSLATION,
            remote_id=job_id,
            name=fields.text(source, "Object", max_len=512),
            state=state,
            created_at=created,
            # CI has no update time; the latest time it reports is the last change we can see.
            updated_at=finished or started or created,
            started_at=started,
            finished_at=finished,
            edition=_arrow(fields.text(source, "Type", max_len=30), fields.text(target, "Type", max_len=30)),
            language=_arrow(fields.text(source, "Lang", max_len=30), fields.text(target, "Lang", max_len=30)),
            # Code/Message say "Success" on jobs that did not fail; they only mean something on failure.
            error_code=fields.text(job, "Code", max_len=64) if failed else "",
            error_message=fields.text(job, "Message", max_len=4000) if failed else "",
            payload=job,
        )
    except fields.FieldError as exc:
        raise ResponseError(f"translation job {job_id}: {exc}") from None
