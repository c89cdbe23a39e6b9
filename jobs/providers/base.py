"""Normalised records, the Provider interface and error types. No Django imports here.

A provider turns one vendor's wire format into these plain records; the sync service only
ever sees records, so no other module needs to know a vendor's field names or time formats.
"""

from __future__ import annotations

from collections.abc import Iterator
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
class Page:
    records: list[JobRecord]
    total: int | None = None  # vendor `count` when the API gives one
    next_cursor: Any = None  # offset (Huawei) or NextToken (Tencent); None = last page
    request_id: str = ""


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
    """The interface every cloud module implements (jobs/providers/huawei.py, tencent.py)."""

    kinds: tuple[str, ...] = ()
    # Kinds that have a list API (short jobs have none: they are tracked by id).
    listable_kinds: tuple[str, ...] = ()

    def __init__(self):
        self.api_calls = 0  # every HTTP attempt, retries included
        self.last_request_id = ""

    def iter_pages(self, kind: str) -> Iterator[Page]:
        """Every page of the full listing of `kind`, in a stable order; guards against loops."""
        raise NotImplementedError

    def get_job(self, kind: str, remote_id: str) -> JobRecord | None:
        """One job by id (short jobs, "refresh this job"); None when the vendor says not found."""
        raise NotImplementedError

    def fetch_detail(self, record: JobRecord) -> Detail:
        """Detail and events for a new or changed job: avatar detail (operation_logs,
        comment_logs), voice op-logs (+ audit result when review failed); translation: none."""
        raise NotImplementedError

    def check_connection(self) -> str:
        """One cheap signed call; returns a short human summary or raises ProviderError."""
        raise NotImplementedError
