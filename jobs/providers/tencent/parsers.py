"""Normalisation: CI JobsDetail dicts -> records. Pure functions, tested on the documented
samples (docs/vendors/tencent-ci.md; section numbers refer to it)."""

from __future__ import annotations

from collections.abc import Mapping

from jobs.providers import fields
from jobs.providers.base import TRANSLATION, JobRecord, Listed, ResponseError
from jobs.providers.times import TimeFormatError, parse_offset_time

# Bump on purpose whenever the records these parsers make from the same vendor XML change
# (field mapping, cuts, stripping). The sync's listed-job fingerprints include it, so the next
# sync re-normalises every cached job of these kinds once. tests/test_normalisation_golden.py
# fails when the output changes without a bump.
NORMALISATION_VERSION = 1


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
