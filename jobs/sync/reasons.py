"""What a sync works out from a job's vendor events where the vendor's own fields are empty:
the failure reason (avatar jobs have no failure fields; a voice review rejection puts its reason
in the op-log or audit result only) and the start and finish times (MetaStudio jobs have no
such fields at all, but their op-logs are timestamped).

Works on provider EventRecords (the detail phase) and on stored JobEvents (the backfill
migration) alike: both have occurred_at, source, action, message and details.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jobs.models import SETTLED_STATUSES, Kind, Status
from jobs.status import TABLES

# A vendor state or op-log action with one of these in its name reports a failure
# (TRAIN_FAILED, SYSTEM_VERIFY_FAILED, AUDIT_NOT_PASS, USER_REJECT, JOB_REJECT...).
FAILING_WORDS = ("FAIL", "NOT_PASS", "REJECT")
# The op-log entry that records a job's creation; the next entry is its submission.
CREATION_ACTIONS = frozenset({"USER_CREATE_JOD", "USER_CREATE_JOB", "CREATE_JOB"})  # sic: "JOD" (vendor)
# Kinds whose op-logs give the start and finish times (the short job's only clue is its
# last update once settled).
OPLOG_TIME_KINDS = (Kind.AVATAR_TRAINING.value, Kind.VOICE_TRAINING.value)
TIME_KINDS = (*OPLOG_TIME_KINDS, Kind.VOICE_ASSESSMENT.value)
VENDOR_SOURCES = ("oplog", "comment", "audit")
SETTLED = frozenset(s.value for s in SETTLED_STATUSES)


def _fails(name: str) -> bool:
    return any(word in name for word in FAILING_WORDS)


# The known vendor states that report a failure without a FAILED status (voice AUDIT_FAILED
# and SPLIT_FAILED need the user; JOB_REJECT is the user's own rejection): the backfill's filter.
FAILING_STATES = sorted({state for table in TABLES.values() for state in table if _fails(state)})


def needs_reason(status: str, state: str) -> bool:
    """A failed job, or one whose vendor state reports a failure (then the reason says what to fix)."""
    return status == Status.FAILED or _fails(state or "")


def failure_reason(events: Iterable[Any]) -> tuple[str, str]:
    """(code, message) of the entry that says why the job failed: the latest failing entry
    (failure action, audit result or an entry with a vendor error code) that has a message,
    else the latest comment, else the latest failing entry's own action name."""
    latest = sorted((ev for ev in events if ev.source in VENDOR_SOURCES), key=lambda ev: ev.occurred_at, reverse=True)
    failing = [
        ev for ev in latest if _fails(ev.action or "") or ev.source == "audit" or (ev.details or {}).get("error_code")
    ]
    for ev in failing:
        if ev.message:
            return (ev.details or {}).get("error_code", ""), ev.message
    for ev in latest:
        if ev.source == "comment" and ev.message:
            return "", ev.message
    if failing:
        return (failing[0].details or {}).get("error_code", ""), failing[0].action
    return "", ""


def oplog_times(events: Iterable[Any], status: str) -> tuple[datetime | None, datetime | None]:
    """(started, finished): when the job was submitted (the first op-log entry after its
    creation) and, once it settled, its last vendor entry."""
    entries = sorted((ev for ev in events if ev.source in VENDOR_SOURCES), key=lambda ev: ev.occurred_at)
    started = next(
        (ev.occurred_at for ev in entries if ev.source == "oplog" and ev.action not in CREATION_ACTIONS), None
    )
    finished = entries[-1].occurred_at if entries and status in SETTLED else None
    return started, finished


def derived_fields(
    kind: str, status: str, state: str, updated_at: datetime | None, events: Iterable[Any]
) -> dict[str, Any]:
    """error_code, error_message, started_at, finished_at as the events tell them (only those
    they tell; the caller keeps any value the vendor gave)."""
    events = list(events)
    out: dict[str, Any] = {}
    if needs_reason(status, state):
        code, message = failure_reason(events)
        if message:
            out["error_message"] = message
            if code:
                out["error_code"] = code
    if kind in OPLOG_TIME_KINDS:
        started, finished = oplog_times(events, status)
        if started:
            out["started_at"] = started
        if finished:
            out["finished_at"] = finished
    elif finished := listed_finish(kind, status, updated_at):
        out["finished_at"] = finished
    return out


def listed_finish(kind: str, status: str, updated_at: datetime | None) -> datetime | None:
    """A settled short job's last update is when it settled (it has no op-log)."""
    return updated_at if kind == Kind.VOICE_ASSESSMENT and status in SETTLED else None


def fill_from_events(current: Any, vendor: Any, kind: str, status: str, state: str, events: Iterable[Any]) -> dict:
    """The derived values to store on a job: for each field the vendor left empty (``vendor``:
    the record or row the vendor's values come from) and the derived value differs from what
    ``current`` (the cached job) holds. A reason's code and message go together."""
    derived = derived_fields(kind, status, state, getattr(vendor, "updated_at", None), events)
    if getattr(vendor, "error_message", "") or getattr(vendor, "error_code", ""):
        derived.pop("error_message", None)
        derived.pop("error_code", None)
    elif "error_message" in derived:
        derived.setdefault("error_code", "")
    updates = {}
    for name, value in derived.items():
        if name in ("started_at", "finished_at") and getattr(vendor, name, None):
            continue
        if getattr(current, name) != value:
            updates[name] = value
    return updates
