"""Normalised records, the Provider interface and error types. This module imports no Django
(its package's ``__init__``, jobs.providers.get_provider, does).

A provider turns one vendor's wire format into these plain records; the sync service only
ever sees records, so no other module needs to know a vendor's field names or time formats.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Job kinds (mirrors jobs.models.Kind, kept here so providers stay Django-free).
AVATAR_TRAINING = "avatar_training"
VOICE_TRAINING = "voice_training"
VOICE_ASSESSMENT = "voice_assessment"
TRANSLATION = "translation"

METRICS = ("speed", "sound", "snr", "reverb", "dnsmos_ovrl", "dnsmos_bak")


@dataclass(frozen=True, slots=True)
class MetricRecord:
    metric: str  # one of METRICS
    expected: str = ""
    actual: str = ""
    status: int | None = None  # vendor's "out of range" flag (-1..1, non-zero = out of range)
    suggestion: str = ""  # Chinese
    suggestion_en: str = ""


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    suggestion: str = ""  # overall advice
    metrics: tuple[MetricRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One remote job, normalised. Times are aware UTC datetimes or None."""

    kind: str
    remote_id: str
    name: str = ""
    state: str = ""  # raw vendor state, kept as is even when unknown
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    batch: str = ""
    tags: tuple[str, ...] = ()
    edition: str = ""
    language: str = ""
    linked_job_id: str = ""
    asset_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # The vendor payload with PII (phone, contact) and expiring download URLs removed.
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    assessment: AssessmentRecord | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One vendor op-log / comment / audit entry."""

    occurred_at: datetime
    source: str  # "oplog" | "comment" | "audit"
    action: str = ""
    operator: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(slots=True)
class Listed:
    """One job of a listing page, not normalised yet.

    ``payload`` is the vendor item with PII and expiring links removed (what gets stored), and
    ``build(payload)`` normalises it into a JobRecord from that payload alone: equal payloads
    always make equal records. So a sync that finds a job's stored payload unchanged need not
    normalise it at all (jobs.sync fingerprints the payload; a resync of 100k jobs is mostly
    that). ``remote_id`` is already validated.
    """

    kind: str
    remote_id: str
    payload: dict[str, Any]
    build: Callable[[dict[str, Any]], JobRecord]

    def record(self) -> JobRecord:
        """The JobRecord (raises ResponseError for a field the vendor sent malformed)."""
        return self.build(self.payload)


class Page:
    """One listing page: its jobs as ``records``, or as ``listed`` jobs whose records are built
    on first use of ``records``."""

    __slots__ = ("_records", "listed", "total", "next_cursor", "request_id")

    def __init__(
        self,
        records: list[JobRecord] | None = None,
        total: int | None = None,  # vendor `count` when the API gives one
        next_cursor: Any = None,  # offset (Huawei) or NextToken (Tencent); None = last page
        request_id: str = "",
        *,
        listed: list[Listed] | None = None,
    ):
        self._records = records
        self.listed = listed
        self.total = total
        self.next_cursor = next_cursor
        self.request_id = request_id

    @property
    def records(self) -> list[JobRecord]:
        if self._records is None:
            self._records = [entry.record() for entry in self.listed or ()]
        return self._records

    @property
    def entries(self) -> list[Listed] | list[JobRecord]:
        """The page's jobs as the provider made them (Listed, or JobRecord)."""
        return self.listed if self.listed is not None else self.records

    def __repr__(self):
        return f"<Page of {len(self.entries)} total={self.total} next={self.next_cursor!r}>"


@dataclass(slots=True)
class Detail:
    record: JobRecord  # the list record, enriched with fields only the detail carries
    events: list[EventRecord]


class ProviderError(Exception):
    """A vendor call failed. `permanent` says whether retrying can help."""

    permanent = False

    def __init__(self, message, *, code="", request_id="", status=None, permanent=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status
        if permanent is not None:
            self.permanent = permanent

    def __str__(self):
        parts = [self.message]
        if self.code:
            parts.insert(0, f"[{self.code}]")
        if self.status:
            parts.insert(0, f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


class TransportError(ProviderError):
    """Network failure, timeout, throttling or a 5xx that outlived the retries."""


class AuthError(ProviderError):
    """Bad or expired credentials (401/403): retrying cannot help."""

    permanent = True


class NotFoundError(ProviderError):
    permanent = True


class ConfigError(ProviderError):
    """The account's settings cannot work (region, bucket, endpoint, missing credentials)."""

    permanent = True


class ResponseError(ProviderError):
    """The vendor answered something we cannot use: malformed JSON/XML, wrong shape, too big."""

    permanent = True


class Provider:
    """The interface every cloud module implements (jobs/providers/huawei/, jobs/providers/tencent/)."""

    kinds: tuple[str, ...] = ()
    # Kinds that have a list API (short jobs have none: they are tracked by id).
    listable_kinds: tuple[str, ...] = ()

    def __init__(self):
        self.api_calls = 0  # every HTTP attempt, retries included
        self.failed_calls = 0  # attempts that failed (an error status, a timeout, a bad body)
        self.throttled_calls = 0  # attempts the vendor throttled (429 or its throttling code)
        self.last_request_id = ""
        self._attempts_lock = threading.Lock()

    def _on_attempt(self, attempt) -> None:
        """The HttpClient's callback for every attempt (listing helpers call it from their threads)."""
        with self._attempts_lock:
            self.api_calls += 1
            if attempt.failed:
                self.failed_calls += 1
            if attempt.throttled:
                self.throttled_calls += 1
            if attempt.request_id:
                self.last_request_id = attempt.request_id

    def save_state(self) -> None:
        """Persist what the client learnt that outlives it (a fetched auth token); called by
        the sync on the thread that built the provider. Nothing by default."""

    @property
    def tenant_key(self) -> str:
        """Whose quota the vendor counts these calls against ("metastudio:<region>:<project_id>",
        "ci:<AppId>"): every provider of one tenant shares one request budget."""
        raise NotImplementedError

    @property
    def documented_rps(self) -> float | None:
        """The vendor's documented per-tenant rate for list and detail calls; None if unpublished."""
        return None

    def iter_pages(
        self,
        kind: str,
        *,
        states: Collection[str] | None = None,
        newest_first: bool = False,
        fetch_ahead: bool = True,
    ) -> Iterator[Page]:
        """The pages of the listing of ``kind``, guarded against loops.

        By default every job, oldest first (a stable order while jobs arrive). ``states``
        (raw vendor states) lists only the jobs in those states, filtered by the vendor; each
        page's ``total`` is then the filtered count, and an empty collection lists nothing
        without a call. ``newest_first`` lists the newest-created jobs first, for a caller that
        stops after the first pages; ``fetch_ahead=False`` asks for no page before it is wanted
        (every call costs quota). A filtered listing is not a snapshot: a job that leaves the
        filter between two pages can shift another job past a page boundary."""
        raise NotImplementedError

    def get_job(self, kind: str, remote_id: str) -> JobRecord | None:
        """One job by id (short jobs, "refresh this job"); None when the vendor says not found."""
        raise NotImplementedError

    def get_jobs(self, kind: str, remote_ids: Iterable[str]) -> dict[str, JobRecord | None]:
        """Several jobs by id: each id asked for (once) -> its record, or None when the vendor
        says it does not exist. By default one ``get_job`` call per id; a vendor that reads
        several ids in one call does so."""
        return {remote_id: self.get_job(kind, remote_id) for remote_id in dict.fromkeys(remote_ids)}

    def ids_per_read(self, kind: str) -> int:
        """How many ids one get_jobs request reads (its calls can run concurrently)."""
        return 1

    def show_is_detail(self, kind: str) -> bool:
        """Whether fetch_detail's one call also reads the job's current state, so a job read by
        id is better read with it (one call, not a read and then a detail)."""
        return False

    def fetch_detail(self, record: JobRecord) -> Detail:
        """Detail and events for a new or changed job: avatar detail (operation_logs,
        comment_logs), voice op-logs (+ audit result when review failed); translation: none."""
        raise NotImplementedError

    def check_connection(self) -> str:
        """One cheap signed call; returns a short human summary or raises ProviderError."""
        raise NotImplementedError


def state_filter(states: Collection[str] | None) -> str | None:
    """The value of a list's state filter: both vendors take one comma-separated value, never a
    repeated parameter. Sorted, so one filter always makes the same request; None = no filter,
    "" = an empty collection (the caller lists nothing: an empty value would mean every job)."""
    if states is None:
        return None
    if isinstance(states, str):
        raise TypeError("states is a collection of vendor states, not one string")
    for state in states:
        if not isinstance(state, str) or not state or len(state) > 64 or any(c == "," or ord(c) < 32 for c in state):
            raise ValueError(f"invalid vendor state {state!r}")
    return ",".join(sorted(set(states)))


def no_jobs() -> Iterator[Page]:
    """The listing of an empty state filter: one empty page, no call."""
    yield Page([], total=0)
