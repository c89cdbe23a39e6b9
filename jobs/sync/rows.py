"""One table of the Job columns a sync writes, and every field list and row mapping derived from it.

A new column a provider fills in is one line in ``COLUMNS`` (plus the model field and the
``JobRecord`` attribute of the same name): the listing upsert, the fingerprint, the "sticky"
rule, the detail merge and the record rebuilt from a cached job all follow from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.models import ACTIVE_STATUSES, Job, Status
from jobs.providers.base import JobRecord
from jobs.status import unified_status
from jobs.sync.reasons import listed_finish
from jobs.triage import group_of


@dataclass(frozen=True)
class Column:
    """A Job column and how a sync treats it."""

    name: str
    # Copied from the JobRecord attribute of the same name (text cut to the model's max_length),
    # and part of a record's fingerprint, in table order.
    record: bool = False
    # A listing upsert overwrites it on conflict (False: written when the job is first cached).
    on_conflict: bool = True
    # A list record may leave it empty while the detail fetch filled it in: then it is kept.
    sticky: bool = False
    # A detail fetch sets it whenever the detail has a value (sticky columns always are).
    detail: bool = False


COLUMNS = (
    Column("account_id", on_conflict=False),
    Column("kind", on_conflict=False),
    Column("remote_id", on_conflict=False),
    Column("name", record=True, detail=True),
    Column("state", record=True),
    Column("status"),  # from state (jobs.status)
    Column("created_at", record=True),
    Column("updated_at", record=True),
    Column("started_at", record=True, sticky=True),
    Column("finished_at", record=True, sticky=True),
    Column("batch", record=True, detail=True),
    Column("tags", record=True),  # the detail merge compares the whole list
    Column("tags_text"),  # from tags, for the list's tag filter
    Column("edition", record=True, sticky=True),
    Column("language", record=True, sticky=True),
    Column("linked_job_id", record=True, sticky=True),
    Column("asset_id", record=True, sticky=True),
    Column("error_code", record=True, sticky=True),
    Column("error_message", record=True, sticky=True),
    Column("failure_group"),  # from kind, status and the reason (jobs.triage)
    Column("payload", record=True),  # the stripped vendor JSON; the detail merges it in
    Column("fingerprint"),
    Column("first_seen_at", on_conflict=False),
    Column("synced_at"),
    Column("state_changed_at"),
    Column("needs_detail"),
    Column("detail_synced_at", on_conflict=False),  # written by the detail phase only
    Column("gone"),
    Column("gone_at"),
)

# The JobRecord attributes a Job stores, in fingerprint order.
RECORD_FIELDS = [c.name for c in COLUMNS if c.record]
# Columns a listing upsert writes on conflict (first_seen_at is kept from the insert).
UPSERT_FIELDS = [c.name for c in COLUMNS if c.on_conflict]
# Columns a list record may leave empty while the detail fetch filled them: kept, not blanked.
STICKY_FIELDS = [c.name for c in COLUMNS if c.sticky]
# Columns a detail fetch fills in when it has a value (tags and payload have rules of their own).
DETAIL_FIELDS = [c.name for c in COLUMNS if (c.detail or c.sticky) and c.name not in ("tags", "payload")]


def cut(value: str | None, length: int | None) -> str:
    value = value or ""
    return value if length is None or len(value) <= length else value[:length]


def tags_text(tags: Sequence[str]) -> str:
    return cut("|" + "|".join(tags) + "|", Job._meta.get_field("tags_text").max_length) if tags else ""


def _converter(name: str) -> Callable[[Any], Any]:
    """How a record's value is stored: text cut to the model's max_length, tags as a list."""
    field = Job._meta.get_field(name)
    internal = field.get_internal_type()
    if internal in ("CharField", "TextField"):
        limit = field.max_length
        return lambda value: cut(value, limit)
    if name == "tags":
        return list
    return lambda value: value


# (name, converter) of the record columns a row takes as they are (payload comes pre-serialised).
_RECORD_CONVERTERS = [(name, _converter(name)) for name in RECORD_FIELDS if name != "payload"]
_DETAIL_LIMITS = [(name, Job._meta.get_field(name).max_length) for name in DETAIL_FIELDS]


def row_from_record(
    account_id: int, rec: JobRecord, fp: str, payload_text: str, now: datetime, *, kind_has_detail: bool
) -> dict:
    """The Job columns (by attname) a listing record sets, one per COLUMNS entry."""
    row = {name: convert(getattr(rec, name)) for name, convert in _RECORD_CONVERTERS}
    row["created_at"] = rec.created_at or now
    updated = row["updated_at"] = rec.updated_at or rec.created_at or now
    status = unified_status(rec.kind, rec.state)
    if row["finished_at"] is None:
        row["finished_at"] = listed_finish(rec.kind, status, rec.updated_at)
    row.update(
        account_id=account_id,
        kind=rec.kind,
        remote_id=rec.remote_id,
        status=status,
        tags_text=tags_text(rec.tags),
        payload=payload_text,
        fingerprint=fp,
        first_seen_at=now,
        synced_at=now,
        # A job first seen mid-state: the vendor's last update is the best start we know.
        state_changed_at=min(updated, now),
        needs_detail=kind_has_detail,
        gone=False,
        gone_at=None,
    )
    row["failure_group"] = group_of(rec.kind, status, row["error_code"], row["error_message"])
    return row


def record_from_job(job: Job) -> JobRecord:
    """The record a cached job was stored from (what a detail fetch starts from)."""
    values = {name: getattr(job, name) for name in RECORD_FIELDS}
    values["tags"] = tuple(values["tags"] or ())
    values["payload"] = values["payload"] or {}
    return JobRecord(kind=job.kind, remote_id=job.remote_id, **values)


def keep_sticky(row: dict, rec: JobRecord, cur: dict) -> None:
    """A changed list record must not blank what the detail fetch filled in (``cur``: the
    cached job's values of CURRENT_FIELDS)."""
    stale = _STALE_WHEN.get(row["status"], ()) if row["state"] != cur["state"] else ()
    for name in STICKY_FIELDS:
        if not row[name] and cur[name] and name not in stale:
            row[name] = cur[name]
    # The reason it is grouped by may be the one kept.
    row["failure_group"] = group_of(row["kind"], row["status"], row["error_code"], row["error_message"])
    if rec.created_at is None:
        row["created_at"] = cur["created_at"]
    if rec.updated_at is None and rec.created_at is None:
        row["updated_at"] = cur["updated_at"]
    if isinstance(cur["payload"], dict) and set(cur["payload"]) - set(rec.payload or {}):
        row["payload"] = {**cur["payload"], **(rec.payload or {})}


# Kept columns that a job's new state makes wrong: a job that moved on to succeed or to run again
# has no current failure reason (a failed job retried at the vendor kept its old error text),
# and one moving again has not finished. A detail read of the new state fills in its own values.
_ERROR_FIELDS = ("error_code", "error_message")
_STALE_WHEN = {
    Status.SUCCEEDED: _ERROR_FIELDS,
    **dict.fromkeys(ACTIVE_STATUSES, (*_ERROR_FIELDS, "finished_at")),
}

# What keep_sticky and a state change need of a changed job as it is cached now.
CURRENT_FIELDS = ["id", "state", "payload", "created_at", "updated_at", "state_changed_at", *STICKY_FIELDS]


def detail_updates(job: Job, rec: JobRecord) -> dict:
    """The Job columns a detail record changes: values it has that differ, tags when it has
    some, its payload merged over the cached one."""
    updates = {}
    for name, limit in _DETAIL_LIMITS:
        value = getattr(rec, name)
        if value and value != getattr(job, name):
            updates[name] = cut(value, limit) if limit else value
    if rec.tags and list(rec.tags) != list(job.tags or []):
        updates["tags"] = list(rec.tags)
        updates["tags_text"] = tags_text(rec.tags)
    if rec.payload:
        updates["payload"] = {**(job.payload or {}), **rec.payload}
    return updates
