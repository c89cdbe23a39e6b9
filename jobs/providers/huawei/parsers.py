"""Normalisation: MetaStudio JSON -> records. Pure functions, tested on the documented samples
(docs/vendors/huawei-metastudio.md; section numbers refer to it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial

from jobs.providers import fields
from jobs.providers.base import (
    AVATAR_TRAINING,
    METRICS,
    VOICE_ASSESSMENT,
    VOICE_TRAINING,
    AssessmentRecord,
    EventRecord,
    JobRecord,
    Listed,
    MetricRecord,
    ResponseError,
)
from jobs.providers.times import TimeFormatError, parse_epoch, parse_rfc3339

# Bump on purpose whenever the records these parsers make from the same vendor JSON change
# (field mapping, cuts, stripping). The sync's listed-job fingerprints include it, so the next
# sync re-normalises every cached job of these kinds once. tests/test_normalisation_golden.py
# fails when the output changes without a bump.
NORMALISATION_VERSION = 1

# Payload keys never cached: phone numbers (PII) and links that expire in 24 h (§2.2, §2.4, §3.2).
_DROP_KEYS = {
    "contact",
    "phone",
    "voice_authorization_url",
    "training_input_source_url",
    "attachment_url",
    "data_uploading_url",
}


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


def short(exc) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def checked(build, context: str):
    """Run a parsing step; turn a bad field or time into a ResponseError that says where."""
    try:
        return build()
    except (fields.FieldError, TimeFormatError) as exc:
        raise ResponseError(f"{context}: {short(exc)}") from None


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
    # Inline rather than through checked: this runs for every listed job, and the error
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
        raise ResponseError(f"{_job_context(item, 'avatar job')}: {short(exc)}") from None


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
        raise ResponseError(f"{_job_context(item, 'voice job')}: {short(exc)}") from None


def _listed(kind: str, label: str, build, item) -> Listed:
    """A listed job, not normalised yet (see base.Listed): its validated id and stripped payload."""
    if not isinstance(item, dict):
        raise ResponseError(f"{label}: expected an object, got {type(item).__name__}")
    try:
        remote_id = fields.identifier(item, "job_id")
    except fields.FieldError as exc:
        raise ResponseError(f"{label}: {short(exc)}") from None
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

    return checked(build, _job_context(item, "short job"))


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

    return checked(build, f"avatar job {job_id} logs" if job_id else "avatar job logs")


class OpLogItem:
    """One ListJobOperationLog entry, validated; paged like a job (``remote_id`` for the loop guard)."""

    __slots__ = ("remote_id", "event")

    def __init__(self, item):
        if not isinstance(item, dict):
            raise ResponseError(f"op-log entry: expected an object, got {type(item).__name__}")
        self.event = checked(lambda: oplog_event(item), "ListJobOperationLog")
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
                EventRecord(
                    occurred,
                    "audit",
                    action="SYSTEM_AUDIT",
                    operator="SYSTEM",
                    message=message[:4000],
                    details={"errors": items} if items else {},
                )
            )
        admin = fields.mapping(data, "admin_audit_result")
        occurred = _time(admin, "audit_time", parse_epoch)
        if occurred and admin:
            attachment = fields.text(admin, "attachment_name", max_len=255)
            events.append(
                EventRecord(
                    occurred,
                    "audit",
                    action="ADMIN_AUDIT",
                    operator="ADMIN",
                    message=fields.text(admin, "message", max_len=4000),
                    details={"attachment_name": attachment} if attachment else {},
                )
            )
        return events

    return checked(build, f"voice job {job_id} audit result" if job_id else "audit result")
