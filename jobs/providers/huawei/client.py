"""HuaweiProvider: the MetaStudio client. Transport (signing or IAM tokens), one method per
vendor operation, the Provider interface and offset/limit paging.

Wire facts: docs/vendors/huawei-metastudio.md (section numbers below refer to it).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterator
from datetime import datetime
from urllib.parse import quote

import orjson

from jobs.providers import fields
from jobs.providers.base import (
    AVATAR_TRAINING,
    VOICE_ASSESSMENT,
    VOICE_TRAINING,
    AuthError,
    ConfigError,
    Detail,
    EventRecord,
    JobRecord,
    NotFoundError,
    Page,
    Provider,
    ResponseError,
    no_jobs,
    state_filter,
)
from jobs.providers.http import HttpClient
from jobs.providers.huawei.endpoints import endpoint_for, iam_endpoint_for
from jobs.providers.huawei.errors import parse_error
from jobs.providers.huawei.iam import (
    TOKEN_PATH,
    TOKEN_REFRESH_MARGIN,
    IamPassword,
    TokenStore,
    parse_token_response,
    token_request_body,
)
from jobs.providers.huawei.paging import offset_pages
from jobs.providers.huawei.parsers import (
    OpLogItem,
    audit_events,
    avatar_events,
    avatar_record,
    checked,
    listed_avatar,
    listed_voice,
    short,
    short_job_record,
    voice_record,
)
from jobs.providers.huawei.signer import canonical_query, sign

PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PAGE_SIZE = 100  # the documented maximum for every MetaStudio list operation
# Listing pages requested ahead of the one being parsed (SYNC_FETCH_AHEAD; so up to this many
# requests of one listing are in flight at once). 3: at 100 ms latency and a 20 requests/s
# budget, 2 reached 88 % of the budget's bound and 3 or 4 over 90 % (bench/quota, part a).
FETCH_AHEAD = 3


def _path_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128 or any(ord(c) < 32 for c in job_id):
        raise ValueError(f"invalid job id {job_id!r}")
    return quote(job_id, safe="")


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
        self.http = HttpClient(on_attempt=self._on_attempt, request_id_headers=("X-Request-Id",), **options)

    def __repr__(self):  # never show secrets, even in a debugger or a traceback's locals
        return f"<HuaweiProvider {self.region} {self.project_id}>"

    @property
    def tenant_key(self) -> str:
        # The gateway throttles per tenant (§10); a project id belongs to one region (§9).
        return f"metastudio:{self.region}:{self.project_id}"

    @property
    def documented_rps(self) -> float | None:
        # §10, "API flow control": query/list/detail calls typically 20/s per tenant in
        # cn-north-4, 10/s in cn-east-3 and ap-southeast-3 (the training APIs' own rows could
        # not be read); 10/s for any other region, the lower figure.
        return 20.0 if self.region == "cn-north-4" else 10.0

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
                    method="GET",
                    path=path,
                    params=params,
                    headers=auth,
                    access_key=self.access_key_id,
                    secret_key=self._secret_key,
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
                "GET",
                url,
                headers={"Accept": "application/json"},
                sign=sign_attempt,
                parse_error=parse_error,
                operation=operation,
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
                f"{operation}: malformed JSON ({short(exc)})",
                request_id=response.request_id,
                status=response.status,
            ) from None
        if not isinstance(data, dict):
            raise ResponseError(
                f"{operation}: expected a JSON object, got {type(data).__name__}",
                request_id=response.request_id,
                status=response.status,
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
            "POST",
            self._iam_url,
            headers={"Content-Type": "application/json;charset=utf8", "Accept": "application/json"},
            body=token_request_body(self._iam, self.project_id),
            parse_error=parse_error,
            operation="KeystoneCreateUserTokenByPassword",
            retry=True,  # a new token each time: safe
        )
        token, expires_at = parse_token_response(response.headers, response.content, response.request_id)
        self.http.redact.add(token)
        return token, expires_at

    def _project_path(self, tail: str) -> str:
        return f"/v1/{quote(self.project_id, safe='')}/{tail}"

    # -- vendor operations (one method each) -------------------------------------------------

    def list_avatar_jobs(
        self, offset: int = 0, limit: int = PAGE_SIZE, *, state: str | None = None, sort_dir: str = "asc"
    ) -> tuple[dict, str]:
        # List2dModelTrainingJob ("Querying Virtual Avatar Model Training Tasks"); ``state`` is
        # one comma-separated value (§1, §2.1). Sort explicitly: paging needs a stable order
        # and the default differs per API (§12.4).
        return self._get(
            "List2dModelTrainingJob",
            self._project_path("digital-human-training-manage/user/jobs"),
            {"offset": offset, "limit": limit, "sort_key": "create_time", "sort_dir": sort_dir, "state": state},
        )

    def show_avatar_job(self, job_id: str) -> tuple[dict, str]:
        # Show2dModelTrainingJob ("Querying Details About a Virtual Avatar Model Training Task").
        return self._get(
            "Show2dModelTrainingJob",
            self._project_path(f"digital-human-training-manage/user/jobs/{_path_id(job_id)}"),
        )

    def list_voice_jobs(
        self, offset: int = 0, limit: int = PAGE_SIZE, *, state: str | None = None, sort_dir: str = "asc"
    ) -> tuple[dict, str]:
        # ListVoiceTrainingJob ("Querying Voice Training Tasks"); its default sort is desc (§3.1).
        return self._get(
            "ListVoiceTrainingJob",
            self._project_path("voice-training-manage/user/jobs"),
            {"offset": offset, "limit": limit, "sort_key": "create_time", "sort_dir": sort_dir, "state": state},
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
        count = checked(lambda: fields.integer(data, "count", minimum=0), "List2dModelTrainingJob")
        return f"MetaStudio {self.region}, project {self.project_id}: {count} avatar training job(s)"

    def iter_pages(
        self,
        kind: str,
        *,
        states: Collection[str] | None = None,
        newest_first: bool = False,
        fetch_ahead: bool = True,
    ) -> Iterator[Page]:
        lists = {
            AVATAR_TRAINING: (self.list_avatar_jobs, listed_avatar, "List2dModelTrainingJob"),
            VOICE_TRAINING: (self.list_voice_jobs, listed_voice, "ListVoiceTrainingJob"),
        }
        if kind not in lists:
            raise ValueError(f"{kind} has no list API on MetaStudio")
        list_jobs, parse_item, operation = lists[kind]
        state = state_filter(states)
        if state == "":
            return no_jobs()
        sort_dir = "desc" if newest_first else "asc"

        def fetch(offset: int, limit: int) -> tuple[dict, str]:
            return list_jobs(offset, limit, state=state, sort_dir=sort_dir)

        return offset_pages(
            fetch,
            "jobs",
            parse_item,
            operation,
            page_size=self.page_size,
            ahead=self.fetch_ahead if fetch_ahead else 0,
            on_page=self._page_in_hand,
        )

    def _page_in_hand(self, request_id: str) -> None:
        # Under the lock the fetch-ahead threads' _on_attempt writes it with; a page fetched ahead
        # that lands later still replaces it, until that page is handed out in turn.
        with self._attempts_lock:
            self.last_request_id = request_id

    # get_jobs: Provider's, one Show call per id (MetaStudio has no multi-id read, §2.4, §3.5).

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

    def show_is_detail(self, kind: str) -> bool:
        return kind == AVATAR_TRAINING  # Show2dModelTrainingJob embeds the op-logs

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
        for page in offset_pages(
            lambda offset, limit: self.list_operation_logs(job_id, offset, limit),
            "operations",
            OpLogItem,
            "ListJobOperationLog",
            page_size=self.page_size,
        ):
            events.extend(item.event for item in page.records if item.event is not None)
        return events
