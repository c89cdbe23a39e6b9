"""Fingerprints: equal fingerprint = nothing to write. Pure functions over records and payloads.

A listed job (base.Listed) is fingerprinted from its stripped payload's JSON and the
normalisation version of its kind, so an unchanged job is neither normalised nor written; a
normalised record (short jobs, a refreshed job) is fingerprinted from its columns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from jobs.providers import NORMALISATION_VERSIONS
from jobs.providers.base import AssessmentRecord, JobRecord, Listed
from jobs.sync.rows import RECORD_FIELDS


class JsonText(str):
    """A value already serialised to JSON (computed once for the fingerprint, reused to store)."""


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def plain_json(value: Any) -> str:
    return json_bytes(value).decode()


def payload_json(payload: dict | None) -> JsonText:
    # Keys stay in the vendor's order (stable for a given API); sorting would cost more than
    # the rare extra write a reordering vendor would cause. orjson: this runs for every listed
    # job, and it is 15x faster than json.dumps here (bench/sync).
    return JsonText(plain_json(payload or {}))


def sorted_json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _iso(dt: datetime | None) -> str:
    return dt.isoformat() if dt else ""


_LISTED_DIGESTS: dict[str, hashlib._Hash] = {}


def _listed_digest(kind: str) -> hashlib._Hash:
    """A SHA-1 that has hashed the listed-job prefix of ``kind`` (a copy: the caller updates it).

    The prefix holds the kind's normalisation version (jobs.providers.NORMALISATION_VERSIONS,
    bumped by hand when a parser's output changes), so such a release re-normalises every
    cached job of that kind once; editing a comment or moving code rewrites nothing."""
    base = _LISTED_DIGESTS.get(kind)
    if base is None:
        version = NORMALISATION_VERSIONS.get(kind, 0)
        base = _LISTED_DIGESTS[kind] = hashlib.sha1(f"listed\x1f{version}\x1f{kind}\x1f".encode())
    return base.copy()


def listed_fingerprint(kind: str, payload: bytes) -> str:
    """Fingerprint of a listed job from its payload's JSON: its record is made from that alone."""
    digest = _listed_digest(kind)
    digest.update(payload)
    return digest.hexdigest()


def _assessment_parts(a: AssessmentRecord | None):
    if a is None:
        return None
    return [
        a.suggestion,
        [[m.metric, m.expected, m.actual, m.status, m.suggestion, m.suggestion_en] for m in a.metrics],
    ]


def assessment_fingerprint(a: AssessmentRecord) -> str:
    return hashlib.sha1(sorted_json(_assessment_parts(a)).encode()).hexdigest()


_RECORD_PARTS = [name for name in RECORD_FIELDS if name != "payload"]


def record_fingerprint(rec: JobRecord, payload_text: str | None = None) -> str:
    """Hash of the normalised record (its RECORD_FIELDS, assessment and payload)."""
    if payload_text is None:
        payload_text = payload_json(rec.payload)
    parts = [rec.kind, rec.remote_id]
    for name in _RECORD_PARTS:
        value = getattr(rec, name)
        if name == "tags":
            parts.append("\x1e".join(value))
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(_iso(value))
    parts.append(sorted_json(_assessment_parts(rec.assessment)) if rec.assessment is not None else "")
    parts.append(payload_text)
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def fingerprint(entry: JobRecord | Listed) -> tuple[bytes, str]:
    """(payload JSON as UTF-8, fingerprint) of one entry."""
    data = json_bytes(entry.payload or {})
    if isinstance(entry, Listed):
        return data, listed_fingerprint(entry.kind, data)
    return data, record_fingerprint(entry, data.decode())


def fingerprints(entries: Iterable[JobRecord | Listed]) -> list[tuple[bytes, str]]:
    """(payload JSON, fingerprint) of each entry, in order.

    The listing's hot path: a resync does this, one dict lookup and nothing else for an
    unchanged job. Listed payloads came from a JSON or XML parser (string keys, JSON values
    only), so the plain orjson call serves them; anything else takes fingerprint()."""
    out = []
    for entry in entries:
        if type(entry) is Listed and type(entry.payload) is dict:
            try:
                data = orjson.dumps(entry.payload)
            except TypeError:
                out.append(fingerprint(entry))
                continue
            out.append((data, listed_fingerprint(entry.kind, data)))
        else:
            out.append(fingerprint(entry))
    return out


def event_key(
    source: str,
    occurred_at: datetime | None,
    action: str = "",
    operator: str = "",
    message: str = "",
    details: dict | None = None,
    extra: str = "",
) -> str:
    """The natural key of an event: re-storing the same entry never duplicates it."""
    raw = sorted_json([source, _iso(occurred_at), action, operator, message, details or {}, extra])
    return hashlib.sha1(raw.encode()).hexdigest()
