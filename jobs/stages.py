"""Stage analytics: how long jobs stay in each vendor state, kept as stretches per job
(JobStage) and a per-day summary (StageDay, StageNow) so the Stages page reads a few thousand
summary rows instead of every job's events (jobs.stage_reads reads them; bench/views: p95 figures
in README).

What a stretch is. Exactly what the job page's timeline counts as time in a state
(jobs.timelines.timeline): observed states only (events with a to_state: the state changes the
sync saw, and for kinds with no op-log the vendor's created/started/finished times), from the
event that entered a state to the next one entering another. The stretch a job is in now is
OPEN (its dwell so far counts on the page as "in it now", never in the percentiles); a settled
job's last state is FINAL (the job finished there: throughput); LEFT stretches have a dwell. A
job first seen already in a state has no event entering it: that state's start is unknown and it
makes no stretch (as on the job page).

How it stays correct when jobs change:
- Every write that can move a stretch rewrites the job's stretches from its stored events, in
  the same transaction: the sync's listing write (a state change and its observed event, a job
  back from gone, any new or changed row of a kind timed by created/started/finished; see
  ``after_write``, called by jobs.sync.kind). The summary rows those stretches counted in, before
  and after, are then recomputed from JobStage (jobs.stage_models.refresh_cells), never patched.
- Op-log entries arriving late (detail fetches, store_events) carry no state: they never move a
  stretch, so the detail phase writes nothing here. A late observed event is written by the
  listing write above, which rewrites the job from all its events, whatever their order.
- A job that goes gone while in a state: after the run that marked it (``after_run``, from
  jobs.sync.after) its open stretch becomes LOST (ended when it was marked, dwell unknown); if it
  comes back, the listing write rewrites it and the stretch is open again.
- A deleted job: its stretches go by CASCADE and the summary rows they counted in are
  recomputed (signals in jobs.stage_models). A deleted account: all its rows go by CASCADE.
- Writers of one account never overlap (the account lease); ``rebuild`` (the rebuildstages
  command, also after restoring a database, and migration 0020 for caches made before it)
  recomputes everything from the events.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from jobs import timelines
from jobs.models import CloudAccount, Job, JobEvent, SyncRun
from jobs.stage_models import (
    STRETCH_FIELDS,
    JobStage,
    StageDay,
    StageNow,
    StageWeek,
    cells_of,
    day_rows,
    now_rows,
    refresh_cells,
    refresh_now,
    summarise,
    week_rows,
    weeks_of,
)
from jobs.status import unified_status

log = logging.getLogger(__name__)
END = JobStage.End
# Kinds whose stretches also come from the job's own created/started/finished times and state
# (no op-log): any change of the row may move them.
TIMED_KINDS = frozenset(str(kind) for kind in timelines.KNOWN_TIMES_STATES)
# What the timeline reads of a job (jobs.timelines.timeline, known_times), and where it stands.
JOB_FIELDS = ("id", "account_id", "kind", "state", "status", "created_at", "started_at", "finished_at")
JOB_FIELDS += ("gone", "gone_at")
# Jobs rewritten per read (an IN list of ids on every backend).
CHUNK = 500
MODELS = SimpleNamespace(
    CloudAccount=CloudAccount,
    Job=Job,
    JobEvent=JobEvent,
    JobStage=JobStage,
    StageDay=StageDay,
    StageWeek=StageWeek,
    StageNow=StageNow,
)


@dataclass(frozen=True)
class Stretch:
    state: str
    entered_at: datetime
    left_at: datetime | None  # LEFT: when the next state began; LOST: when the job was marked gone
    end: str
    stuck: bool = False  # over its state's limit (the timeline's mark)

    @property
    def seconds(self) -> float | None:
        return (self.left_at - self.entered_at).total_seconds() if self.end == END.LEFT else None


def stretches(tl: timelines.Timeline, gone_at: datetime | None = None) -> list[Stretch]:
    """The stretches of a job's timeline, in time order. ``gone_at``: the job went gone (an
    unsettled job's last stretch is then LOST, not OPEN)."""
    firsts = []  # (state, the step that entered it)
    for step in tl.steps:
        state = step.event.to_state
        if state and (not firsts or firsts[-1][0] != state):
            firsts.append((state, step))
    settled = not (tl.steps and tl.steps[-1].current)
    out = []
    for i, (state, step) in enumerate(firsts):
        start = step.event.occurred_at
        if i + 1 < len(firsts):
            left = firsts[i + 1][1].event.occurred_at
            if left > start:  # two changes seen at one instant: passed through in no time
                out.append(Stretch(state, start, left, END.LEFT, step.stuck))
        elif settled:
            out.append(Stretch(state, start, None, END.FINAL))
        elif gone_at is not None:
            out.append(Stretch(state, start, max(gone_at, start), END.LOST))
        else:
            out.append(Stretch(state, start, None, END.OPEN, step.stuck))
    return out


def job_stretches(job, events: list[tuple], now: datetime | None = None) -> list[Stretch]:
    """The stretches of ``job`` (a Job, or a migration's historical one) from its events with a
    to_state, as (id, occurred_at, to_state) in time order."""
    now = now or timezone.now()
    rows = [timelines.EventRow(pk, at, "observed", "", "", "", state, "") for pk, at, state in events]
    gone_at = (job.gone_at or now) if job.gone else None
    return stretches(timelines.timeline(job, rows, now), gone_at)


def _rewrite(job_ids: list[int], now: datetime, m=MODELS) -> tuple[set, set]:
    """Rewrite the stretches of ``job_ids`` (one chunk) where they changed: delete the stored
    ones no longer there, insert the new ones (a state change usually ends the open stretch and
    opens another: one row out, two in). Answers the summary cells and keys those rows count in."""
    jobs = list(m.Job.objects.filter(pk__in=job_ids).only(*JOB_FIELDS))
    events = defaultdict(list)
    observed = m.JobEvent.objects.filter(job_id__in=job_ids).exclude(to_state="")
    for job_id, pk, at, state in observed.order_by("job_id", "occurred_at", "id").values_list(
        "job_id", "id", "occurred_at", "to_state"
    ):
        events[job_id].append((pk, at, state))
    old = defaultdict(dict)  # job -> {stretch: its row ids}
    for pk, job_id, *row in m.JobStage.objects.filter(job_id__in=job_ids).values_list("id", "job_id", *STRETCH_FIELDS):
        old[job_id].setdefault(tuple(row), []).append(pk)
    gone, rows, touched = [], [], []
    for job in jobs:
        stored = old[job.pk]
        for s in job_stretches(job, events[job.pk], now):
            row = (job.account_id, job.kind, s.state, s.entered_at, s.left_at, s.seconds, s.end)
            if stored.get(row):
                stored[row].pop()  # kept as it is
            else:
                rows.append(m.JobStage(job_id=job.pk, **dict(zip(STRETCH_FIELDS, row))))
                touched.append(row)
        for row, pks in stored.items():
            gone += pks
            touched += [row] * len(pks)
    if gone:
        m.JobStage.objects.filter(pk__in=gone).delete()
    if rows:
        m.JobStage.objects.bulk_create(rows, batch_size=1000)
    return cells_of(touched)


def restage(job_ids, now: datetime | None = None) -> int:
    """Rewrite the stretches of ``job_ids`` from their events and recompute the summary rows
    they touch, in one transaction (the caller's, when there is one). Answers how many summary
    cells were recomputed."""
    ids = sorted(set(job_ids))
    if not ids:
        return 0
    now = now or timezone.now()
    cells, keys = set(), set()
    with transaction.atomic():
        for start in range(0, len(ids), CHUNK):
            c, k = _rewrite(ids[start : start + CHUNK], now)
            cells |= c
            keys |= k
        refresh_cells(cells)
        refresh_now(keys)
    return len(cells)


def after_write(kind: str, events: list, moved: list[int], ids: dict[str, int]) -> None:
    """The sync stored a listing batch (jobs.sync.kind, inside its transaction): rewrite the
    jobs whose stretches may have moved. ``events``: the observed state changes written;
    ``moved``: jobs back from gone; ``ids``: remote id -> id of the rows written (used for kinds
    timed by the job's own times). Costs nothing for a batch without any of them.

    A failure here is logged and undone alone (restage's savepoint): the batch's jobs and events
    are kept, and `manage.py rebuildstages` recomputes what was missed."""
    job_ids = {ev.job_id for ev in events}
    job_ids.update(moved)
    if kind in TIMED_KINDS:
        job_ids.update(ids.values())
    try:
        restage(job_ids)
    except Exception:
        log.exception(
            "stage upkeep of %d %s job(s) failed; `manage.py rebuildstages` recomputes it", len(job_ids), kind
        )


def after_run(run: SyncRun) -> None:
    """After a run that marked jobs gone, or a full listing (which retries one that failed):
    the open stretches of gone jobs end (LOST). Called by jobs.sync.after."""
    if not run.marked_gone and run.mode != SyncRun.Mode.FULL:
        return
    open_ = JobStage.objects.filter(end=END.OPEN, account_id=run.account_id, kind=run.kind, job__gone=True)
    restage(open_.values_list("job_id", flat=True))


# --- rebuilding from the events: the rebuildstages command and migration 0020 -----------------


def rebuild(account_ids=None, m=MODELS, now: datetime | None = None) -> int:
    """Recompute the stretches and summary of every account (or ``account_ids``) from the jobs'
    events, one transaction per account; ``m``: the models (a migration's historical ones).
    Answers the stretches written."""
    now = now or timezone.now()
    if account_ids is None:
        account_ids = list(m.CloudAccount.objects.order_by("pk").values_list("pk", flat=True))
    written = 0
    for account_id in account_ids:
        with transaction.atomic():
            m.JobStage.objects.filter(account_id=account_id).delete()
            observed = m.JobEvent.objects.filter(job__account_id=account_id).exclude(to_state="")
            ids = set(observed.values_list("job_id", flat=True).distinct())
            ids.update(m.Job.objects.filter(account_id=account_id, kind__in=TIMED_KINDS).values_list("pk", flat=True))
            ids = sorted(ids)
            for start in range(0, len(ids), CHUNK):
                _rewrite(ids[start : start + CHUNK], now, m)
            rebuild_summary(account_id, m)
            written += m.JobStage.objects.filter(account_id=account_id).count()
    return written


def rebuild_summary(account_id: int, m=MODELS) -> int:
    """Replace the summary rows of one account with those of its stretches (streamed, one
    pass); answers the day cells written."""
    rows = m.JobStage.objects.filter(account_id=account_id).values_list(*STRETCH_FIELDS)
    days, now = summarise(rows.iterator(chunk_size=20_000))
    with transaction.atomic():
        for model in (m.StageDay, m.StageWeek, m.StageNow):
            model.objects.filter(account_id=account_id).delete()
        m.StageDay.objects.bulk_create(day_rows(m.StageDay, days), batch_size=2000)
        m.StageWeek.objects.bulk_create(week_rows(m.StageWeek, weeks_of(days)), batch_size=2000)
        m.StageNow.objects.bulk_create(now_rows(m.StageNow, now), batch_size=2000)
    return len(days)


# --- the job page's Gantt strip ------------------------------------------------------------

GANTT_WIDTH = 1000  # viewBox units for the timed stretches
GANTT_MIN = 6  # the narrowest a stretch is drawn, so a short one stays visible
GANTT_CAP = 24  # the mark of the state a settled job ended in
GANTT_MAX = 40  # stretches drawn: a job that went back and forth longer shows its latest ones


@dataclass
class Segment:
    stretch: Stretch
    status: str
    duration: timedelta | None  # LEFT: its dwell; OPEN: so far; FINAL/LOST: None
    x: float = 0.0
    width: float = 0.0


@dataclass
class Gantt:
    segments: list
    start: datetime
    end: datetime  # now for a job still in a state, else when its last timed stretch ended
    width: int  # viewBox width
    ongoing: bool
    hidden: int = 0  # earlier stretches not drawn (over GANTT_MAX)


def gantt(job: Job, tl: timelines.Timeline, now: datetime | None = None) -> Gantt | None:
    """The job's stretches laid out on one strip, widths proportional to time (None: no
    stretch)."""
    now = now or timezone.now()
    parts = stretches(tl, (job.gone_at or now) if job.gone else None)
    if not parts:
        return None
    hidden = max(len(parts) - GANTT_MAX, 0)
    parts = parts[hidden:]
    segs = []
    for s in parts:
        if s.end == END.LEFT:
            length = s.left_at - s.entered_at
        elif s.end == END.OPEN:
            length = max(now - s.entered_at, timedelta(0))
        elif s.end == END.LOST:
            length = s.left_at - s.entered_at
        else:
            length = None
        shown = length if s.end in (END.LEFT, END.OPEN) else None
        segs.append((Segment(s, unified_status(job.kind, s.state), shown), length))
    timed = [(seg, length) for seg, length in segs if length is not None]
    total = sum((length.total_seconds() for _, length in timed), 0.0)
    widths = [
        (length.total_seconds() / total * GANTT_WIDTH) if total > 0 else GANTT_WIDTH / len(timed) for _, length in timed
    ]
    _widen_narrow(widths)
    x = 0.0
    for (seg, _), width in zip(timed, widths):
        seg.x, seg.width = x, width
        x += width
    final = [seg for seg, length in segs if length is None]
    for seg in final:
        seg.x, seg.width = x + 2, GANTT_CAP - 2
    last = parts[-1]
    end = now if last.end == END.OPEN else (last.left_at or last.entered_at)
    return Gantt(
        segments=[seg for seg, _ in segs],
        start=parts[0].entered_at,
        end=end,
        width=int(x + (GANTT_CAP if final else 0)) or GANTT_WIDTH,
        ongoing=last.end == END.OPEN,
        hidden=hidden,
    )


def _widen_narrow(widths: list[float]) -> None:
    """Draw every stretch at least GANTT_MIN wide, taking the room from the wider ones."""
    narrow = [i for i, w in enumerate(widths) if w < GANTT_MIN]
    if not narrow or len(narrow) == len(widths):
        return
    needed = sum(GANTT_MIN - widths[i] for i in narrow)
    wide = sum(w for i, w in enumerate(widths) if i not in narrow)
    for i, w in enumerate(widths):
        widths[i] = GANTT_MIN if i in narrow else w - needed * w / wide
