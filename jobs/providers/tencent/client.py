"""TencentProvider: the CI client. Transport (q-sign per attempt, XML answers), one method per
vendor operation, the Provider interface and NextToken paging (§2 of docs/vendors/tencent-ci.md)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from urllib.parse import urlsplit

from jobs.providers.base import (
    TRANSLATION,
    ConfigError,
    Detail,
    JobRecord,
    NotFoundError,
    Page,
    Provider,
    ResponseError,
    no_jobs,
    state_filter,
)
from jobs.providers.http import HttpClient, validate_endpoint
from jobs.providers.tencent.errors import parse_error
from jobs.providers.tencent.parsers import listed_translation, translation_record
from jobs.providers.tencent.signer import TOKEN_HEADER, encode, sign
from jobs.providers.tencent.wire import element_to_dict_checked, local, parse_xml

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
# Ids per multi-id read (GET /jobs/<id>,<id>…, §1, §4). CI documents no maximum; 50 keeps an
# answer within the 100 jobs a list page is documented to hold (§2.1) and the request line
# near 2 KB with the 33-character ids of the samples (§3), far below common proxy limits.
GET_BATCH = 50
_SAFE_PATH = re.compile(r"^(/[A-Za-z0-9_.,-]+)+$")


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

    @property
    def tenant_key(self) -> str:
        # The account is the AppId, the digits after the bucket name's last "-" (§1: name-APPID).
        return "ci:" + self.bucket.rsplit("-", 1)[1]

    @property
    def documented_rps(self) -> float | None:
        return None  # CI publishes no per-API QPS limit (§13); throttling shows up as SlowDown

    # -- transport -------------------------------------------------------------------------

    def _get(self, operation: str, path: str, params: dict[str, str] | None = None):
        """Sign (per attempt: q-sign-time must be fresh), send, parse; returns (root, request id)."""
        # Paths here are built from safe characters only (the commas of a multi-id read are
        # sent as they are), so the decoded path (signed) and the path sent are the same string.
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
                method="GET",
                path=path,
                params=params,
                headers=to_sign,
                secret_id=self.secret_id,
                secret_key=self._secret_key,
            )
            return headers

        response = self.http.request(
            "GET",
            url,
            headers={"Accept": "application/xml"},
            sign=sign_attempt,
            parse_error=parse_error,
            operation=operation,
        )
        root = parse_xml(response.content, operation, response.request_id)
        if local(root.tag) != "Response":
            raise ResponseError(
                f"{operation}: expected a <Response> document, got <{local(root.tag)}>", request_id=response.request_id
            )
        return root, response.request_id

    # -- vendor operations -------------------------------------------------------------------

    def list_jobs(self, next_token: str = "", size: int = PAGE_SIZE, *, states: str | None = None, order: str = "Asc"):
        # DescribeMediaJobs ("Pulling Content Recognition Jobs in Batches" / seed 004, GET /ai_jobs).
        # Oldest first by default: new jobs land at the end, so a listing in progress never
        # shifts. ``states`` is one comma-separated value; absent means All (§2.1).
        params = {"tag": "Translation", "size": str(size), "orderByTime": order, "nextToken": next_token}
        if states:
            params["states"] = states
        if self.queue_id:
            params["queueId"] = self.queue_id
        return self._get("DescribeMediaJobs", self.list_path, params)

    def describe_job(self, job_id: str):
        # DescribeAIJob ("Querying job", GET /ai_jobs/<jobId>).
        return self._get("DescribeAIJob", f"/ai_jobs/{_job_id(job_id)}")

    def describe_jobs(self, job_ids: list[str]):
        # DescribeMediaJob ("Querying job", GET /jobs/<id>,<id>…): several ids in one call are
        # documented on /jobs only (§1, §4), the path of the SDK's ci_get_media_jobs (§7.1).
        if not 1 <= len(job_ids) <= GET_BATCH:
            raise ValueError(f"between 1 and {GET_BATCH} ids per call, not {len(job_ids)}")
        return self._get("DescribeMediaJob", "/jobs/" + ",".join(_job_id(job_id) for job_id in job_ids))

    # -- Provider interface ------------------------------------------------------------------

    def check_connection(self) -> str:
        root, _ = self.list_jobs(size=1)
        jobs = [c for c in root if local(c.tag) == "JobsDetail"]
        return (
            f"CI {self.bucket} ({self.region}), {self.list_path}: listing works"
            f" ({'at least one' if jobs else 'no'} translation job)"
        )

    def iter_pages(
        self,
        kind: str,
        *,
        states: Collection[str] | None = None,
        newest_first: bool = False,
        fetch_ahead: bool = True,  # ignored: a NextToken listing cannot ask for a page ahead
    ) -> Iterator[Page]:
        _translation(kind)
        value = state_filter(states)
        if value == "":
            return no_jobs()
        return self._pages(value, "Desc" if newest_first else "Asc")

    def _pages(self, states: str | None, order: str) -> Iterator[Page]:
        """Follow NextToken to the end, sending the same filters with every page (§2.3). A token
        seen before means the service is looping: the listing is reported incomplete
        (ResponseError) so the sync marks nothing as gone."""
        token = ""
        seen_tokens: set[str] = set()
        empty_in_a_row = 0
        for _ in range(MAX_PAGES):
            root, request_id = self.list_jobs(token, self.page_size, states=states, order=order)
            records = [listed_translation(element_to_dict_checked(e)) for e in root if local(e.tag) == "JobsDetail"]
            next_token = ""
            for child in root:
                if local(child.tag) == "NextToken":
                    next_token = (child.text or "").strip()
            if next_token and (next_token == token or next_token in seen_tokens):
                raise ResponseError(
                    f"DescribeMediaJobs: NextToken {next_token[:40]!r} repeated; listing stopped", request_id=request_id
                )
            empty_in_a_row = 0 if records else empty_in_a_row + 1
            if next_token and empty_in_a_row > MAX_EMPTY_PAGES:
                raise ResponseError(
                    f"DescribeMediaJobs: {empty_in_a_row} empty pages in a row that still carry a NextToken;"
                    " listing stopped",
                    request_id=request_id,
                )
            yield Page(total=None, next_cursor=next_token or None, request_id=request_id, listed=records)
            if not next_token:
                return
            seen_tokens.add(token)
            token = next_token
        raise ResponseError(f"DescribeMediaJobs: more than {MAX_PAGES} pages; listing stopped")

    def get_job(self, kind: str, remote_id: str) -> JobRecord | None:
        _translation(kind)
        try:
            root, request_id = self.describe_job(remote_id)
        except NotFoundError:
            return None
        return _answered(root, [remote_id], "DescribeAIJob", request_id)[remote_id]

    def get_jobs(self, kind: str, remote_ids: Iterable[str]) -> dict[str, JobRecord | None]:
        """Up to GET_BATCH ids per call; an unknown id is named in NonExistJobIds (§4). A batch
        answered "not found" as a whole (an error, not NonExistJobIds) says nothing about which of
        its ids is gone: one id is then gone, as get_job has it, and a larger batch is read again
        one id at a time."""
        _translation(kind)
        ids = [_job_id(remote_id) for remote_id in dict.fromkeys(remote_ids)]
        found: dict[str, JobRecord | None] = {}
        for start in range(0, len(ids), GET_BATCH):
            batch = ids[start : start + GET_BATCH]
            try:
                root, request_id = self.describe_jobs(batch)
            except NotFoundError:
                if len(batch) == 1:
                    found[batch[0]] = None
                else:
                    found.update((job_id, self.get_job(kind, job_id)) for job_id in batch)
                continue
            found.update(_answered(root, batch, "DescribeMediaJob", request_id))
        return found

    def ids_per_read(self, kind: str) -> int:
        return GET_BATCH

    def fetch_detail(self, record: JobRecord) -> Detail:
        # The list already carries everything CI knows about a translation job; no extra call.
        return Detail(record, [])


def _translation(kind: str) -> None:
    if kind != TRANSLATION:
        raise ValueError(f"{kind} is not a Tencent CI job kind")


def _job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise ValueError(f"invalid CI job id {job_id!r}")
    return job_id


def _answered(root, asked: list[str], operation: str, request_id: str) -> dict[str, JobRecord | None]:
    """Each asked id -> its JobsDetail record, or None when NonExistJobIds names it (one
    element per id, or one comma-separated text: §4 allows both readings). An answer about an
    id not asked for, or silent about one that was, is a ResponseError: a read must never make
    a job look gone by accident."""
    records: dict[str, JobRecord] = {}
    missing: set[str] = set()
    for child in root:
        name = local(child.tag)
        if name == "JobsDetail":
            record = translation_record(element_to_dict_checked(child))
            records[record.remote_id] = record  # the same id twice: the last wins (§2.4)
        elif name == "NonExistJobIds":
            missing.update(part.strip() for part in (child.text or "").split(",") if part.strip())
    unasked = (records.keys() | missing) - set(asked)
    if unasked:
        raise ResponseError(
            f"{operation}: the answer holds job(s) not asked for: {', '.join(sorted(unasked)[:5])}",
            request_id=request_id,
        )
    both = sorted(records.keys() & missing)
    if both:
        raise ResponseError(
            f"{operation}: job(s) {', '.join(both[:5])} both answered and missing", request_id=request_id
        )
    silent = [job_id for job_id in asked if job_id not in records and job_id not in missing]
    if silent:
        raise ResponseError(
            f"{operation}: the answer holds neither job(s) {', '.join(silent[:5])} nor NonExistJobIds naming them",
            request_id=request_id,
        )
    return {job_id: records.get(job_id) for job_id in asked}
