"""When unfinished jobs and batches will finish, from the history of jobs of the same kind.

A job "finishes" when it enters a settled state (succeeded, failed, cancelled). The history is
what past jobs went through: their stretches of vendor states, (state, entered at), from
JobEvents with a to_state and, for kinds without a vendor log (translation), from the vendor's
created/started/finished times (jobs.timelines.known_times). Each stretch before a finish gives
one pair (seconds in the state, seconds from entering it to the finish); a job left waiting on a
person for PARKED_AFTER counts as one that never finishes. jobs.eta_models.Estimator predicts
from these pairs; build_model makes it from plain data, so the cache's builder (rebuild_model)
and the backtest (bench/eta) feed the same code.

The vendors run a kind's jobs side by side (each one scheduled on its own), so a batch ends when
its last job does: the batch estimate is the distribution of the maximum (Estimator.batch).

A build reads at most JOBS_READ jobs per kind (the latest outcomes within WINDOW) and keeps the
latest KEEP stretches per kind and state; a Celery beat task rebuilds it hourly
(jobs.tasks.rebuild_eta_model) and current_model() rebuilds it when it is missing or a day old.
Figures (bench/eta): README.
"""

from __future__ import annotations

import bisect
import heapq
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.eta_models import QUANTILES, VERSION, Estimator, EtaModel, invert, quantile
from jobs.models import SETTLED_STATUSES, WAITING_STATUSES, Job, JobEvent, Kind
from jobs.status import TABLES
from jobs.timelines import KNOWN_TIMES_STATES, EventRow, known_times

__all__ = ["QUANTILES", "job_remaining", "batch_remaining", "combine", "current_model", "stored_model", "rebuild_model"]

KEEP = 2000  # stretches per kind and state (the latest to finish)
WINDOW = timedelta(days=90)
# Jobs read per kind, newest outcome first: bounds a build at any cache size. 5,000 jobs fill
# KEEP for every state that 40 % of jobs pass through; rarer states keep what they have.
JOBS_READ = 5000
MAX_AGE = timedelta(days=1)  # an older stored model is rebuilt on first use
# A job first seen this soon after its creation was in its first observed from_state since then
# (a sync every few minutes sees new jobs in the state they were created in).
FIRST_SEEN_SLACK = timedelta(minutes=10)
# A job waiting on a person (needs action, paused) this long is taken to stay (the vendor never
# moves it by itself; later builds see it if someone does): the history then counts how often a
# job like it ends up parked, and a batch's estimate is for the jobs that will finish. Longer
# than fakecloud ever keeps a job waiting that then goes on (3 days). bench/eta, steady batch
# estimates: median bias +10 -> +4 %, p25-p75 coverage 38 -> 44 %, error 19 -> 18 %.
PARKED_AFTER = 7 * 86400
EVENT_CHUNK = 500

# States that wait on a person, and settled ones, per kind (from the status table).
WAITING = {kind: {s for s, status in table.items() if status in WAITING_STATUSES} for kind, table in TABLES.items()}
SETTLED = {kind: {s for s, status in table.items() if status in SETTLED_STATUSES} for kind, table in TABLES.items()}

Stretches = list[tuple[str, float]]  # [(vendor state, entered at in epoch seconds)], time order


# --- plain data -----------------------------------------------------------------------------


def stretch_pairs(kind: str, stretches: Stretches, now: float) -> Iterator[tuple[str, float, float, float]]:
    """(state, seconds in it, seconds from entering it to the next finish, when that was known)
    for each stretch of an unsettled state that a settled one follows. A job left waiting on a
    person for PARKED_AFTER by ``now`` is taken to stay there: its stretches never finish (inf),
    the waiting one with its time so far."""
    finish, settled = None, SETTLED.get(kind, ())
    end = len(stretches)
    if stretches and stretches[-1][0] in WAITING.get(kind, ()) and now - stretches[-1][1] >= PARKED_AFTER:
        state, entered = stretches[-1]
        finish, known = math.inf, entered + PARKED_AFTER
        end -= 1
        yield state, now - entered, math.inf, known
    for i in range(end - 1, -1, -1):
        state, entered = stretches[i]
        if state in settled:
            finish = known = entered
        elif finish is not None:
            yield state, stretches[i + 1][1] - entered, finish - entered, known


def build_model(traces: Iterable[tuple[str, Stretches]], now: float) -> Estimator:
    """The model from plain data: (kind, stretches known at ``now``, epoch seconds) of jobs
    settled by then, or parked (waiting on a person for PARKED_AFTER).

    Per kind and state it keeps the KEEP stretches whose outcome was known last within WINDOW:
    chosen by their finish, not their start, since among stretches that began lately only the
    quick ones have finished yet."""
    since = now - WINDOW.total_seconds()
    found = defaultdict(lambda: defaultdict(list))
    for kind, stretches in traces:
        for state, dwell, to_finish, known in stretch_pairs(kind, stretches, now):
            if since <= known <= now:
                found[kind][state].append((known, dwell, to_finish))
    kinds = {
        kind: {state: [(d, f) for _, d, f in heapq.nlargest(KEEP, rows)] for state, rows in states.items()}
        for kind, states in found.items()
    }
    return Estimator(kinds, WAITING, built_at=now)


# --- the interface --------------------------------------------------------------------------


def job_remaining(kind: str, state: str, age_seconds: float, model=None) -> tuple[float, float, float] | None:
    """(p25, p50, p75) seconds until this job (vendor ``state``, in it for ``age_seconds``)
    settles, if it does (past jobs like it that stayed waiting on a person are left out); None
    without history."""
    model = model or current_model()
    r = [s for s in model.remaining(kind, state, max(age_seconds, 0.0)) or () if s < math.inf]
    if not r:  # no history, or every past job like it stayed waiting on a person
        return None
    return quantile(r, 0.25), quantile(r, 0.5), quantile(r, 0.75)


def batch_remaining(kind: str, unfinished: list[tuple[str, float]], model=None) -> list[float]:
    """Seconds (at QUANTILES) until the LAST of these unfinished jobs of one kind settles ([] when
    none can be estimated; jobs that cannot be are left out, and so are those that will stay
    waiting on a person, at the rate past jobs like them did)."""
    model = model or current_model()
    return model.batch(kind, unfinished)


def combine(parts: list[list[float]]) -> list[float]:
    """Quantiles of the max of independent parts (a batch spanning kinds/accounts), each given
    at QUANTILES. A part's distribution is linear between its quantiles, from 0 at 0 s to 1 one
    quantile step past its 95th percentile."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return list(parts[0]) if parts else []
    curves = []
    for p in parts:
        top = p[-1] + (p[-1] - p[-2])
        curves.append([(0.0, 0.0), *zip(p, QUANTILES), (top, 1.0)])
    times = sorted({t for curve in curves for t, _ in curve})
    points = []
    for t in times:
        share = 1.0
        for curve in curves:
            share *= _share_at(curve, t)
        points.append((t, share))
    return invert(points)


def _share_at(curve: list[tuple[float, float]], t: float) -> float:
    """A curve's share at ``t``: right-continuous (where points share a time, the last one's)."""
    i = bisect.bisect_right([time for time, _ in curve], t)
    if i == 0:
        return 0.0
    if i == len(curve):
        return 1.0
    (t0, p0), (t1, p1) = curve[i - 1], curve[i]
    return p0 + (p1 - p0) * (t - t0) / (t1 - t0)


# --- the stored model -----------------------------------------------------------------------


class JobTimes(NamedTuple):
    """What a trace needs of a job (read without its payload); known_times reads these too."""

    id: int
    kind: str
    state: str
    created_at: datetime
    first_seen_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def job_stretches(job: JobTimes, events: list[EventRow]) -> Stretches:
    """A job's stretches from its events with a to_state and its known times, merged as
    jobs.timelines.timeline() merges them (a state seen again in a row continues its stretch)."""
    rows = sorted([*events, *known_times(job)], key=lambda ev: (ev.occurred_at, ev.pk))
    stretches = []
    first = rows[0] if rows else None
    if (
        first is not None
        and first.from_state
        and first.occurred_at > job.created_at
        and job.first_seen_at - job.created_at <= FIRST_SEEN_SLACK
    ):
        stretches.append((first.from_state, job.created_at.timestamp()))
    for ev in rows:
        if ev.to_state and (not stretches or stretches[-1][0] != ev.to_state):
            stretches.append((ev.to_state, ev.occurred_at.timestamp()))
    return stretches


def history_jobs(kind: str, now: datetime, limit: int = JOBS_READ) -> list[JobTimes]:
    """The ``limit`` jobs of ``kind`` whose outcome was known last within WINDOW: settled, or
    parked (waiting on a person for PARKED_AFTER). One query per status, each a range of the
    (status, state_changed_at) index read newest first. Started/finished times only where
    known_times uses them (a column fewer to decode: most of a build's time goes into that)."""
    timed = kind in KNOWN_TIMES_STATES
    columns = ["state_changed_at", "id", "state", "created_at", "first_seen_at"]
    columns += ["started_at", "finished_at"] if timed else []
    parked = timedelta(seconds=PARKED_AFTER)
    found = []
    for status, delay in [*((s, None) for s in SETTLED_STATUSES), *((s, parked) for s in WAITING_STATUSES)]:
        latest = now - (delay or timedelta(0))
        rows = (
            Job.objects.filter(status=status, state_changed_at__gte=latest - WINDOW, state_changed_at__lte=latest)
            .filter(kind=kind)
            .order_by("-state_changed_at")
            .values_list(*columns)[:limit]
        )
        found += [(changed + (delay or timedelta(0)), *rest) for changed, *rest in rows]
    found.sort(key=lambda row: row[0], reverse=True)
    return [
        JobTimes(pk, kind, state, created, first_seen, *(times or (None, None)))
        for _, pk, state, created, first_seen, *times in found[:limit]
    ]


def db_traces(kind: str, now: datetime, limit: int = JOBS_READ) -> Iterator[tuple[str, Stretches]]:
    """(kind, stretches) of the kind's history_jobs, their events read EVENT_CHUNK jobs at a
    time through the (job, occurred_at, id) index."""
    jobs = history_jobs(kind, now, limit)
    for start in range(0, len(jobs), EVENT_CHUNK):
        chunk = jobs[start : start + EVENT_CHUNK]
        events = defaultdict(list)
        rows = (
            JobEvent.objects.filter(job_id__in=[j.id for j in chunk], occurred_at__lte=now)
            .exclude(to_state="")
            .values_list("job_id", "id", "occurred_at", "from_state", "to_state")
            .order_by()
        )
        for job_id, pk, occurred_at, from_state, to_state in rows:
            events[job_id].append(EventRow(pk, occurred_at, "", "", "", from_state, to_state, ""))
        for job in chunk:
            yield kind, job_stretches(job, events[job.id])


_cached: dict[str, object] = {}  # "key": the stored rows' build ids, "model": their Estimator


def rebuild_model(now: datetime | None = None) -> Estimator:
    """Build the model from the cache's settled and parked jobs, store it (a row per kind) and
    return it."""
    now = now or timezone.now()
    counts = defaultdict(int)

    def traces():
        for kind in Kind.values:
            for trace in db_traces(kind, now):
                counts[kind] += 1
                yield trace

    model = build_model(traces(), now.timestamp())
    build_id = uuid.uuid4().hex
    try:
        with transaction.atomic():
            for kind in Kind.values:
                EtaModel.objects.update_or_create(
                    kind=kind,
                    defaults={
                        "built_at": now,
                        "build_id": build_id,
                        "version": VERSION,
                        "jobs_read": counts[kind],
                        "data": model.data(kind),
                    },
                )
    except IntegrityError:  # another worker stored the first model at the same moment: theirs stands
        return model
    transaction.on_commit(lambda: _cached.update(key=_key_of(build_id), model=model))
    return model


def _key_of(build_id: str) -> tuple:
    return tuple((kind, build_id) for kind in sorted(Kind.values))


def current_model() -> Estimator:
    """The stored model (stored_model), built here when none is stored, or it is older than
    MAX_AGE or of another version."""
    return stored_model(MAX_AGE) or rebuild_model()


def stored_model(max_age: timedelta | None = None) -> Estimator | None:
    """The stored model, or None (none stored, of another version, or older than ``max_age``):
    what pages read, which never pay for a build. Decoded once per process and kept while the
    stored rows are the same ones (one query on a four-row table per call), so every worker
    sees an hourly rebuild at once."""
    rows = list(EtaModel.objects.order_by("kind").values_list("kind", "build_id", "built_at", "version"))
    oldest = timezone.now() - max_age if max_age else None
    if {k for k, *_ in rows} != set(Kind.values) or any(v != VERSION or (oldest and b < oldest) for *_, b, v in rows):
        return None
    key = tuple((kind, build_id) for kind, build_id, *_ in rows)
    if _cached.get("key") == key:
        return _cached["model"]
    data = dict(EtaModel.objects.values_list("kind", "data"))
    model = Estimator.from_data(data, WAITING, built_at=min(b for _, _, b, _ in rows).timestamp())
    _cached.update(key=key, model=model)
    return model


def forget() -> None:
    """Drop this process's decoded model (tests; the next call reads the stored one)."""
    _cached.clear()
